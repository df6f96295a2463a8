//! Account names in the accounting tools' syntax (API.md §11): an owner's id becomes one
//! component, `U` + the id when it has only `[A-Za-z0-9-]`, otherwise `X` + the hex of its
//! UTF-8 bytes; beancount components are capitalised.

pub fn owner_component(owner: &str) -> String {
    if !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        format!("U{owner}")
    } else {
        format!("X{}", hex::encode(owner.as_bytes()))
    }
}

/// `liabilities:cashback:pending:Uu-42`
pub fn hledger(account: &str, owner: &str) -> String {
    if owner.is_empty() {
        account.to_string()
    } else {
        format!("{account}:{}", owner_component(owner))
    }
}

/// `Liabilities:Cashback:Pending:Uu-42`
pub fn beancount(account: &str, owner: &str) -> String {
    hledger(account, owner).split(':').map(capitalise).collect::<Vec<_>>().join(":")
}

fn capitalise(c: &str) -> String {
    let mut chars = c.chars();
    match chars.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_become_one_component() {
        assert_eq!(hledger("liabilities:cashback:pending", "u-42"), "liabilities:cashback:pending:Uu-42");
        assert_eq!(beancount("liabilities:cashback:pending", "u-42"), "Liabilities:Cashback:Pending:Uu-42");
        assert_eq!(hledger("assets:merchant-receivable", "m1:c.9"), "assets:merchant-receivable:X6d313a632e39");
        assert_eq!(beancount("income:platform-share", ""), "Income:Platform-share");
    }
}

//! Connections: one binary, two backends, picked from the URL (DESIGN.md §6).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A file path for SQLite.
    Sqlite(String),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL {0:?}: use sqlite://relative.db, sqlite:///absolute/path.db or postgres://...")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migrate(String),
    #[error("the database was set up with time zone {recorded}; CASHBACK_TIMEZONE is {configured}. Refusing to start: every local date in the ledger would move")]
    TimezoneChanged { recorded: String, configured: String },
    #[error("another process holds this database's writer lock; only one writer may run")]
    WriterLocked,
    #[error("backup: {0}")]
    Backup(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<DbUrl, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            return Ok(DbUrl::Sqlite(path.to_string()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        Err(StoreError::BadUrl(url.to_string()))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }

    pub fn connect(&self) -> Result<DbConn, StoreError> {
        match self {
            DbUrl::Sqlite(path) => {
                let mut c =
                    diesel::SqliteConnection::establish(path).map_err(|e| StoreError::Connect(e.to_string()))?;
                // On every connection: WAL so readers never block the writer, FULL sync so a
                // committed answer survives power loss, and foreign keys (off by default).
                // Temporary storage in memory: each writer job runs under a savepoint, whose
                // page copies would otherwise go to a temporary file with a write each.
                c.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY;",
                )?;
                Ok(DbConn::Sqlite(c))
            }
            DbUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConn::Postgresql)
                .map_err(|e| StoreError::Connect(e.to_string())),
        }
    }
}

/// Applies the embedded migrations of the connection's backend.
/// Runs `f` on one snapshot of the database: every query sees it as it was when the first one
/// ran, whatever the writer commits meanwhile (SQLite: one read transaction, which also takes
/// the file's shared lock once instead of once per statement; PostgreSQL: REPEATABLE READ,
/// READ ONLY). For long reads such as the exports.
pub fn snapshot<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|c| {
        if let DbConn::Postgresql(pg) = c {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(c)
    })
}

pub fn migrate(conn: &mut DbConn) -> Result<usize, StoreError> {
    let m = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migrate(e.to_string());
    match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()).map_err(m),
        DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()).map_err(m),
    }
}

pub fn migrations_current(conn: &mut DbConn) -> bool {
    match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS).map(|p| !p).unwrap_or(false),
        DbConn::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS).map(|p| !p).unwrap_or(false),
    }
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Readies the writer's own connection. On PostgreSQL it takes an advisory lock held for the
/// connection's whole life, so a second process cannot write to the same database, and sets
/// how the writer's statements are planned (below).
pub fn setup_writer(conn: &mut DbConn) -> Result<(), StoreError> {
    match conn {
        DbConn::Postgresql(c) => {
            let f: Flag = diesel::sql_query("SELECT pg_try_advisory_lock(727262021) AS flag").get_result(c)?;
            if !f.flag {
                return Err(StoreError::WriterLocked);
            }
            c.batch_execute(WRITER_PG_SETTINGS)?;
        }
        // A larger page cache for the writer was tried (64 MiB against the default 2 MiB): the
        // in-process ceiling did not move at 100,000 or 400,000 orders (2026-12-06), nor did
        // throughput over HTTP, though it removed the writer's preads (2026-12-07).
        DbConn::Sqlite(c) => c.batch_execute(&format!("PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"))?,
    }
    Ok(())
}

/// The writer's PostgreSQL session. Its statements stay prepared (`store::prepared`) and are
/// planned once (generic plans): planning the read-ahead and the batch's write at every Bind
/// was about 0.8 ms of a 3 to 4 ms batch (2026-12-04). A generic plan made on a fresh database
/// sees empty tables and picks sequential scans and hash joins, and keeps them until the next
/// ANALYZE; with sequential scans priced out, every plan of the writer's keyed statements is an
/// index lookup whatever the statistics say (the schema test
/// `the_writers_statements_plan_index_lookups_on_an_empty_database` checks them). A statement with no usable index still runs, by a sequential scan. Those statements
/// then carry a huge estimated cost, which would trigger JIT compilation (20 to 170 ms for a
/// DELETE on an empty table, 2026-12-06): JIT is off, as it should be for short statements.
pub const WRITER_PG_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET jit = off";

/// Whether the triggers that keep the journal append-only are in place.
pub fn journal_guarded(conn: &mut DbConn) -> Result<bool, diesel::result::Error> {
    let c: Count = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name IN \
             ('entries_no_update','entries_no_delete','postings_no_update','postings_no_delete')",
        )
        .get_result(c)?,
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT COUNT(*)::BIGINT AS n FROM pg_trigger WHERE tgenabled <> 'D' AND tgname IN \
             ('entries_no_update','entries_no_truncate','postings_no_update','postings_no_truncate')",
        )
        .get_result(c)?,
    };
    Ok(c.n == 4)
}

/// Records the business time zone at first start; refuses another one later.
pub fn check_timezone(conn: &mut DbConn, configured: &str) -> Result<(), StoreError> {
    use super::schema::meta::dsl::*;
    let recorded: Option<String> = meta.filter(key.eq("timezone")).select(value).first(conn).optional()?;
    match recorded {
        None => {
            diesel::insert_into(meta).values((key.eq("timezone"), value.eq(configured))).execute(conn)?;
            Ok(())
        }
        Some(r) if r == configured => Ok(()),
        Some(r) => Err(StoreError::TimezoneChanged { recorded: r, configured: configured.to_string() }),
    }
}

pub struct Manager(pub DbUrl);

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

pub type DbPool = Pool<Manager>;

pub fn read_pool(url: &DbUrl, size: u32) -> Result<DbPool, StoreError> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(Manager(url.clone()))
        .map_err(|e| StoreError::Connect(e.to_string()))
}

/// Runs a diesel query on the backend's own connection. Through the MultiConnection every
/// query is turned into SQL text again on every run; on the inner connection a query of a
/// fixed shape is found in the prepared-statement cache by its type. For the writer's hot
/// statements (a tenth of its time per order went to rebuilding SQL).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Postgresql($c) => $body,
        }
    };
}

/// WAL size past which the checkpointer also truncates the file (waiting for the writer).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

/// The WAL's length (pages) at which the writer checkpoints it itself, after a commit. It is
/// also what starts the WAL over under steady traffic: the checkpointer's passes copy every
/// frame they see, but the writer adds frames during each pass, so SQLite never finds the WAL
/// fully copied when a write transaction begins; the commit that reaches this length copies
/// the frames since the last pass and syncs the database file (9-20 ms about every 0.6 s at
/// 1,000 orders/s, docs/performance.md). At SQLite's default (1,000 pages) the writer spent a
/// tenth of its time checkpointing: over HTTP a commit writes about 170 pages, so the WAL
/// passed 1,000 pages within the checkpointer's 200 ms (perf, 2026-12-07). 10,000 pages is
/// 40 MB of WAL at 4 KiB pages.
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Checkpoints the WAL of a SQLite database on a connection of its own, every 200 ms, until
/// `alive` is gone (the writer stopped). Otherwise the commit that fills the WAL to
/// [`WRITER_AUTOCHECKPOINT_PAGES`] checkpoints it inside the writer (copying pages and
/// syncing the database file), a stall of tens of milliseconds for every request in that
/// batch: the p99 at 1,000 orders/s went from 45 ms to 4 ms. The writer keeps SQLite's own
/// checkpoint past that length: with it off, the writer's transactions met "database is
/// locked" while this thread checkpointed.
/// PostgreSQL: nothing to do.
pub fn spawn_checkpointer<T: Send + Sync + 'static>(url: &DbUrl, alive: std::sync::Weak<T>) {
    let DbUrl::Sqlite(path) = url else { return };
    let (url, wal) = (url.clone(), format!("{path}-wal"));
    let spawned = std::thread::Builder::new().name("cashback-checkpoint".into()).spawn(move || {
        let Ok(mut c) = url.connect() else {
            tracing::error!("the checkpointer cannot open the database; the WAL grows until it can");
            return;
        };
        while alive.upgrade().is_some() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let big = std::fs::metadata(&wal).map(|m| m.len() > WAL_TRUNCATE_BYTES).unwrap_or(false);
            let mode = if big { "TRUNCATE" } else { "PASSIVE" };
            if let Err(e) = c.batch_execute(&format!("PRAGMA wal_checkpoint({mode})")) {
                tracing::warn!(error = %e, "WAL checkpoint failed; it is tried again");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "no checkpointer thread; the WAL grows until the next start");
    }
}

/// `cashback backup`: a consistent copy of a SQLite database in one file, taken online (the
/// server may go on writing) with `VACUUM INTO`, which reads one snapshot of the database. The
/// copy is a plain SQLite file: restoring is pointing `DATABASE_URL` at it (or copying it over
/// the database while the server is stopped). PostgreSQL has `pg_dump` for this.
pub fn backup_sqlite(conn: &mut DbConn, output: &std::path::Path) -> Result<(), StoreError> {
    let DbConn::Sqlite(c) = conn else {
        return Err(StoreError::Backup(
            "backup is for SQLite; back PostgreSQL up with pg_dump or pg_basebackup".into(),
        ));
    };
    if output.exists() {
        return Err(StoreError::Backup(format!("{} exists already; backup never overwrites", output.display())));
    }
    let target = output.to_str().ok_or_else(|| StoreError::Backup("the output path is not UTF-8".into()))?;
    diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(target).execute(c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_writer_leaves_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::Sqlite(dir.path().join("w.db").to_str().unwrap().to_string());
        #[derive(QueryableByName)]
        struct Pages {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            wal_autocheckpoint: i64,
        }
        let pages = |c: &mut DbConn| -> i64 {
            let DbConn::Sqlite(c) = c else { unreachable!() };
            diesel::sql_query("PRAGMA wal_autocheckpoint").get_result::<Pages>(c).unwrap().wal_autocheckpoint
        };
        let mut reader = url.connect().unwrap();
        assert_eq!(pages(&mut reader), 1000, "other connections keep SQLite's default");
        let mut writer = url.connect().unwrap();
        setup_writer(&mut writer).unwrap();
        assert_eq!(pages(&mut writer), i64::from(WRITER_AUTOCHECKPOINT_PAGES));
    }
}

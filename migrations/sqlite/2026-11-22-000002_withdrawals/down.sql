DROP TABLE deposits; DROP TABLE withdrawals; DROP TABLE withdrawal_settings;

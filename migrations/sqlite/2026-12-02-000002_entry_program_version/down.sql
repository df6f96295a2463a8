ALTER TABLE entries DROP COLUMN program_version;

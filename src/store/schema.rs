//! The database schema as an ordered list of migrations. `PRAGMA
//! user_version` records how many have run; opening a database runs the
//! rest, each in its own transaction. Never edit a migration that has
//! shipped: add the next one.

/// Migrations in order; the index + 1 is the schema version they lead to.
pub const MIGRATIONS: &[&str] = &[
    // 1: submissions, their values, commune flags, findings, runs, receipts.
    r#"
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        trigger_name  TEXT NOT NULL,
        command       TEXT NOT NULL,
        files_seen    INTEGER NOT NULL DEFAULT 0,
        accepted      INTEGER NOT NULL DEFAULT 0,
        warnings      INTEGER NOT NULL DEFAULT 0,
        rejected      INTEGER NOT NULL DEFAULT 0,
        duplicates    INTEGER NOT NULL DEFAULT 0,
        superseded    INTEGER NOT NULL DEFAULT 0,
        outcome       TEXT
    );

    CREATE TABLE submissions (
        id             INTEGER PRIMARY KEY,
        run_id         INTEGER REFERENCES runs(id),
        file_name      TEXT NOT NULL,
        sha256         TEXT NOT NULL UNIQUE,
        size           INTEGER NOT NULL,
        received_at    TEXT NOT NULL,
        processed_at   TEXT NOT NULL,
        unit_code      TEXT,
        unit_name      TEXT,
        period         TEXT,
        form_code      TEXT,
        form_version   INTEGER,
        status         TEXT NOT NULL CHECK (status IN ('accepted', 'warnings', 'rejected')),
        superseded_by  INTEGER REFERENCES submissions(id),
        stored_path    TEXT NOT NULL,
        feedback_path  TEXT,
        filed          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX submissions_unit_period ON submissions(unit_code, period);

    CREATE TABLE submission_values (
        submission_id  INTEGER NOT NULL REFERENCES submissions(id),
        line_code      TEXT NOT NULL,
        value          REAL,
        ytd            REAL,
        cell           TEXT,
        PRIMARY KEY (submission_id, line_code)
    ) WITHOUT ROWID;

    CREATE TABLE commune_flags (
        submission_id  INTEGER NOT NULL REFERENCES submissions(id),
        commune_code   TEXT NOT NULL,
        commune_name   TEXT,
        flag           TEXT NOT NULL,
        value          INTEGER NOT NULL,
        PRIMARY KEY (submission_id, commune_code, flag)
    ) WITHOUT ROWID;

    CREATE TABLE findings (
        id             INTEGER PRIMARY KEY,
        submission_id  INTEGER NOT NULL REFERENCES submissions(id),
        rule           INTEGER NOT NULL,
        severity       TEXT NOT NULL,
        sheet          TEXT,
        cell           TEXT,
        line_code      TEXT,
        line_label     TEXT,
        value          TEXT,
        expected       TEXT,
        message_vi     TEXT NOT NULL,
        message_en     TEXT NOT NULL
    );
    CREATE INDEX findings_submission ON findings(submission_id);

    -- Every file a run looked at, duplicates included: the audit trail.
    CREATE TABLE receipts (
        id             INTEGER PRIMARY KEY,
        run_id         INTEGER REFERENCES runs(id),
        file_name      TEXT NOT NULL,
        sha256         TEXT NOT NULL,
        seen_at        TEXT NOT NULL,
        outcome        TEXT NOT NULL,
        submission_id  INTEGER REFERENCES submissions(id),
        moved_to       TEXT
    );
    "#,
    // 2: the daemon's schedules: up to when each has been handled, so a run
    // missed while the server was off is noticed at start-up.
    r#"
    CREATE TABLE schedule_state (
        name           TEXT PRIMARY KEY,
        cron           TEXT NOT NULL,
        handled_until  TEXT NOT NULL
    );
    "#,
    // 3: one row per commune of a return, its flags in one JSON object
    // (flag key → 1 or 0, the flags its commune sheet had) instead of one
    // row per commune and flag with the name repeated: a national year is
    // 110,000 rows instead of 440,000, which storing spent a fifth of its
    // time on. `commune_flags` stays, as a view with the old columns and
    // rows, for every query written against it.
    r#"
    CREATE TABLE submission_communes (
        submission_id  INTEGER NOT NULL REFERENCES submissions(id),
        commune_code   TEXT NOT NULL,
        commune_name   TEXT,
        flags          TEXT NOT NULL,
        PRIMARY KEY (submission_id, commune_code)
    ) WITHOUT ROWID;

    INSERT INTO submission_communes (submission_id, commune_code, commune_name, flags)
    SELECT submission_id, commune_code, max(commune_name), json_group_object(flag, value)
    FROM commune_flags
    GROUP BY submission_id, commune_code;

    DROP TABLE commune_flags;

    CREATE VIEW commune_flags AS
    SELECT c.submission_id, c.commune_code, c.commune_name, f.key AS flag, f.value AS value
    FROM submission_communes AS c, json_each(c.flags) AS f;
    "#,
];

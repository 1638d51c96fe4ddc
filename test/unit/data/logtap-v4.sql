-- A logtap.db made by logtap at commit a1979c9 (before the registry had its
-- own schema version): a collector started on an empty --data, one
-- 'logtap run --runner r-old --app app-old --version v1' of two lines,
-- 'logtap apps deploy app-old --owner bob' and 'logtap tokens create --user
-- bob --label fixture' (token lt_f0ddb951e85bf1f4b8d1f8292f9716a4a48800fab0680532).
-- Dumped with 'sqlite3 logtap.db .dump'; .dump leaves out user_version,
-- so it is set at the end. test_store_upgrade.c loads it.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE logs (  id         INTEGER PRIMARY KEY AUTOINCREMENT,  ts         INTEGER NOT NULL,  runner_id  TEXT NOT NULL,  request_id TEXT,  app_id     TEXT NOT NULL,  version_id TEXT NOT NULL,  source     TEXT NOT NULL,  stream     INTEGER NOT NULL,  level      INTEGER NOT NULL,  pid        INTEGER NOT NULL,  tid        INTEGER NOT NULL,  message    BLOB NOT NULL, unattributed INTEGER NOT NULL DEFAULT 0);
INSERT INTO logs VALUES(1,1796421179601060878,'r-old',NULL,'app-old','v1','run',1,3,25106,25106,X'68656c6c6f2066726f6d20746865206f6c642073746f7265',0);
INSERT INTO logs VALUES(2,1796421179601735677,'r-old',NULL,'app-old','v1','run',2,5,25106,25106,X'6f6f7073',0);
CREATE TABLE runners (  runner_id  TEXT PRIMARY KEY,  app_id     TEXT NOT NULL,  version_id TEXT NOT NULL,  source     TEXT NOT NULL,  first_ts   INTEGER NOT NULL,  last_ts    INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO runners VALUES('r-old','app-old','v1','run',1796421179601060878,1796421179601060878);
CREATE TABLE requests (  request_id TEXT PRIMARY KEY,  runner_id  TEXT NOT NULL,  app_id     TEXT NOT NULL,  version_id TEXT NOT NULL,  begin_ts   INTEGER NOT NULL,  end_ts     INTEGER, caller TEXT) WITHOUT ROWID;
CREATE TABLE users (  name                 TEXT PRIMARY KEY,  admin                INTEGER NOT NULL DEFAULT 0,  default_private_logs INTEGER NOT NULL DEFAULT 0,  created_ts           INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO users VALUES('admin',1,0,1796421177602374712);
INSERT INTO users VALUES('bob',0,0,1796421183109248989);
CREATE TABLE tokens (  token_id   TEXT PRIMARY KEY,  hash       BLOB NOT NULL UNIQUE,  user       TEXT NOT NULL REFERENCES users(name),  label      TEXT NOT NULL,  created_ts INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO tokens VALUES('tok_27cc9807aee8',X'27cc9807aee830c3d90d9cd8dad46dedc3a98e0ff600d6ee20f1b78bd6a5d2f4','bob','fixture',1796421185134109675);
INSERT INTO tokens VALUES('tok_d501559d6b33',X'd501559d6b335bf33c706e5784116568b80930d12bce0f23956e3fbb3bc913c4','admin','bootstrap',1796421177603392376);
CREATE TABLE apps (  app_id               TEXT PRIMARY KEY,  owner                TEXT NOT NULL REFERENCES users(name),  private_logs         INTEGER NOT NULL,  private_from_default INTEGER NOT NULL,  deployed_ts          INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO apps VALUES('app-old','bob',0,1,1796421183109294450);
CREATE TABLE delivery_instances (  instance    INTEGER PRIMARY KEY,  last_pos    INTEGER NOT NULL,  dropped     INTEGER NOT NULL,  updated_ts  INTEGER NOT NULL,  finished_ts INTEGER);
INSERT INTO delivery_instances VALUES(-6396629070792972163,104,0,1796421179617429604,1796421179617429604);
CREATE TABLE delivery_streams (  instance INTEGER NOT NULL,  tid      INTEGER NOT NULL,  fd       INTEGER NOT NULL,  pos      INTEGER NOT NULL,  off      INTEGER NOT NULL,  PRIMARY KEY (instance, tid, fd)) WITHOUT ROWID;
ANALYZE sqlite_schema;
INSERT INTO sqlite_stat1 VALUES('logs','logs_by_app','2 2 1');
INSERT INTO sqlite_stat1 VALUES('logs','logs_by_ts','2 1');
INSERT INTO sqlite_stat1 VALUES('logs','logs_by_runner','2 2 1');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('logs',2);
CREATE INDEX logs_by_runner ON logs(runner_id, id);
CREATE INDEX logs_by_request ON logs(request_id, id) WHERE request_id IS NOT NULL;
CREATE INDEX logs_by_ts ON logs(ts);
CREATE INDEX apps_by_owner ON apps(owner, app_id);
CREATE INDEX requests_by_end ON requests(end_ts) WHERE end_ts IS NOT NULL;
CREATE INDEX logs_by_app ON logs(app_id, id);
COMMIT;
PRAGMA user_version = 4;

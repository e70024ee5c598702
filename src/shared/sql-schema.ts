/**
 * Brings a Durable Object's SQLite schema up to date: each entry of `migrations` upgrades it by one
 * version, applied in order, once. Run in the object's constructor, under `blockConcurrencyWhile`.
 */
export function migrate(sql: SqlStorage, migrations: string[]) {
  sql.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
  );
  const current =
    sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
  migrations.slice(current).forEach((statement, index) => {
    sql.exec(statement);
    sql.exec(
      "INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
      current + index + 1,
    );
  });
}

/**
 * Brings a Durable Object's SQLite schema up to date: each entry of `migrations` upgrades it by one
 * version, applied in order, once. Run in the object's constructor, under `blockConcurrencyWhile`.
 * `fresh`, when given, is the schema all the migrations end at, created in one go for an object that
 * has none yet: objects made by the thousand (a drop's allowances) skip replaying the history.
 */
export function migrate(sql: SqlStorage, migrations: string[], fresh?: string) {
  sql.exec(
    "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
  );
  const current =
    sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
  if (current === 0 && fresh !== undefined) {
    sql.exec(fresh);
    sql.exec("INSERT INTO schema_version (id, version) VALUES (1, ?)", migrations.length);
    return;
  }
  migrations.slice(current).forEach((statement, index) => {
    sql.exec(statement);
    sql.exec(
      "INSERT INTO schema_version (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
      current + index + 1,
    );
  });
}

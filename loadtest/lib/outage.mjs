// A D1 outage on the local harness, made the way one happens: the database file cannot be written.
// An exclusive SQLite transaction held from this process makes every write by workerd fail (busy)
// until it is released; reads of what was committed before may still succeed.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

function sqliteFiles(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sqliteFiles(path);
    return entry.endsWith(".sqlite") ? [path] : [];
  });
}

/** Locks every D1 database under the harness's state directory; answers the function that releases them. */
export function lockDatabases(stateDir) {
  const files = sqliteFiles(stateDir).filter((path) => path.includes("D1"));
  if (files.length === 0) throw new Error(`no D1 database file under ${stateDir}`);
  const locks = files.map((path) => {
    const db = new DatabaseSync(path);
    db.exec("BEGIN EXCLUSIVE");
    return db;
  });
  return () => {
    for (const db of locks) {
      db.exec("ROLLBACK");
      db.close();
    }
  };
}

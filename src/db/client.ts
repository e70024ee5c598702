import { is, SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import * as schema from "./schema";

export function database(d1: D1Database) {
  return drizzle(d1, { schema });
}

export type Database = ReturnType<typeof database>;

/** D1 reports constraint violations only through the message text. */
export function isUniqueViolation(error: unknown, column: string): boolean {
  const message = error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : String(error);
  return message.includes("UNIQUE constraint failed") && message.includes(column);
}

const dialect = new SQLiteAsyncDialect();

type BuiltQuery = SQL | { toSQL(): { sql: string; params: unknown[] } };

/**
 * A drizzle query or `sql` fragment as a raw D1 statement, for `D1Database.batch()`: drizzle's own
 * batch cannot carry parameterised `sql` fragments, and several statements that must land together
 * go in one D1 batch (a single transaction).
 */
export function statement(d1: D1Database, query: BuiltQuery): D1PreparedStatement {
  const { sql: text, params } = is(query, SQL) ? dialect.sqlToQuery(query) : query.toSQL();
  return d1.prepare(text).bind(...params);
}

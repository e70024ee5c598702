export type LogLevel = "info" | "warn" | "error";

/** One structured JSON line for Workers Logs; warnings and errors go to stderr so they can be filtered. */
export function logEvent(level: LogLevel, msg: string, fields: Record<string, unknown> = {}) {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "info") console.log(line);
  else console.error(line);
}

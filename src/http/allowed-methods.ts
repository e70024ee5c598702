/**
 * Which methods the app answers on a path, from its own route table: a known path asked with another
 * method gets `405` with `Allow` instead of a `404` that says the path does not exist.
 */
type Route = { method: string; path: string };

function pattern(path: string): RegExp {
  const segments = path.split("/").map((segment) => {
    if (segment.startsWith(":")) return "[^/]+";
    if (segment === "*") return ".*";
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${segments.join("/")}/?$`);
}

export function methodsByPath(routes: Route[]) {
  const compiled = routes
    .filter((route) => route.method !== "ALL")
    .map((route) => ({ method: route.method, pattern: pattern(route.path) }));
  return (path: string): string[] => {
    const methods = new Set(compiled.filter((route) => route.pattern.test(path)).map((r) => r.method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  };
}

// Test helpers: a stand-in for Grafana's template service, which only the
// running Grafana provides.

/** Formats a variable value the way Grafana's template service does. */
export function formatValue(value: string | string[], format?: string): string {
  const vs = Array.isArray(value) ? value : [value];
  if (format === 'regex') {
    const esc = vs.map((v) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&'));
    return esc.length === 1 ? esc[0] : '(' + esc.join('|') + ')';
  }
  return vs.length > 1 ? '{' + vs.join(',') + '}' : vs[0];
}

/** A template service knowing the given variables. */
export function templateSrv(vars: Record<string, string | string[]>) {
  return {
    getVariables: () => Object.keys(vars).map((name) => ({ name })),
    replace: (s: string | undefined, _scoped?: unknown, format?: string) =>
      (s ?? '').replace(/\$(\w+)/g, (m, name) => (name in vars ? formatValue(vars[name], format) : m)),
  };
}

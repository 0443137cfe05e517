/** What a private nginx (`nginx -p DIR -c DIR/nginx.conf`, as the tests and the bench run it) needs in common. */

/** The `http {}` directives that keep every temporary file of a private nginx inside its directory (`p` maps a name into it). */
export function privateNginxTempPaths(p: (name: string) => string): string[] {
  return ['client_body_temp', 'proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp'].map((name) => `    ${name}_path ${p(name)};`);
}

/**
 * The transport under a STOMP client: plain TCP, or TLS with the configured CA
 * file and optional client certificate/key. Same socket as StompListener opens.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import type { BrokerConfig } from '../config.js';

/** A TCPWrapper whose socket is TLS with `options` (the wrapper only knows plain TCP). */
function tlsWrapper(host: string, port: number, options: ConnectionOptions): TCPWrapper {
  class TlsWrapper extends TCPWrapper {
    protected override getSocket(p: number, h: string): Socket {
      return tlsConnect({ ...options, port: p, host: h, servername: h });
    }
  }
  return new TlsWrapper(host, port);
}

/** Opens a socket to the broker for @stomp/stompjs's `webSocketFactory`: TCP, or TLS when `useSsl` (certificate files are read on each call). */
export function openBrokerSocket(config: BrokerConfig): TCPWrapper {
  const { host, port, useSsl, caCertsFile, certFile, keyFile } = config;
  if (!useSsl) return new TCPWrapper(host, port);
  return tlsWrapper(host, port, {
    ca: caCertsFile ? readFileSync(caCertsFile) : undefined,
    cert: certFile ? readFileSync(certFile) : undefined,
    key: keyFile ? readFileSync(keyFile) : undefined,
  });
}

/** `stomp://host:port` or `stomp+ssl://host:port`, for messages. */
export function brokerAddress(config: BrokerConfig): string {
  return `${config.useSsl ? 'stomp+ssl' : 'stomp'}://${config.host}:${config.port}`;
}

import http from 'node:http';

/** A webhook receiver on a free local port: every POSTed JSON body lands in `received`. */
export async function webhookReceiver(): Promise<{ url: string; received: Record<string, unknown>[]; close: () => void }> {
  const received: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += String(c)));
    req.on('end', () => {
      received.push(JSON.parse(data) as Record<string, unknown>);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, received, close: () => server.close() };
}

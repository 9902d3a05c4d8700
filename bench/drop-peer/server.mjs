// The peer of bench/drop: the reference tus server, @tus/server with @tus/file-store,
// storing uploads under the directory given, checking nothing. Prints its port.
import http from 'node:http';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const server = new Server({ path: '/files', datastore: new FileStore({ directory: process.argv[2] }) });
const listener = http.createServer((req, res) => server.handle(req, res));
listener.listen(0, '127.0.0.1', () => console.log(`listening ${listener.address().port}`));

import net from 'node:net';
const [sock, ...cmd] = process.argv.slice(2);
const s = net.connect(sock); let out=''; s.on('data', d => out += d); s.on('end', () => console.log(out)); s.end(cmd.join(' ') + '\n');

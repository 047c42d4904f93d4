#!/usr/bin/env node
// Starts s3rver (npm, installed into tests/s3/node_modules by setup-s3rver.sh) for the S3
// sink's tests:  node s3rver_launcher.js DIRECTORY PORT BUCKET...
// Prints "port N" once it listens (PORT 0 picks a free one).  s3rver checks SigV4 signatures
// (key pair S3RVER / S3RVER) and Content-MD5.
//
// s3rver 3.7 lacks AbortMultipartUpload (DELETE ?uploadId answers 405) and ListMultipartUploads
// (GET /bucket?uploads, 501); S3, MinIO and Ceph have both.  The middleware below adds them the
// way S3 behaves: abort removes the upload's stored parts (204), or answers 404 NoSuchUpload;
// the listing gives each open upload's Key and UploadId (filtered by ?prefix=).  Open uploads are the directories
// <DIRECTORY>/<bucket>/._S3rver_uploads/<upload id>: the tests look there for orphans.
'use strict';
const fs = require('fs');
const path = require('path');
const S3rver = require('s3rver');

const [directory, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  directory,
  port: Number(port),
  address: '127.0.0.1',
  silent: true,
  configureBuckets: buckets.map(name => ({ name, configs: [] })),
});

async function abortUpload(ctx, next) {
  if (ctx.method !== 'DELETE' || ctx.query.uploadId === undefined) return next();
  const bucket = ctx.path.split('/')[1];
  const dir = path.join(server.store.getResourcePath(bucket, undefined, 'uploads'),
                        String(ctx.query.uploadId));
  if (!/^[0-9a-f]+$/.test(String(ctx.query.uploadId)) || !fs.existsSync(dir)) {
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code></Error>';
    return undefined;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  ctx.status = 204;
  return undefined;
}
function xmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function listUploads(ctx, next) {
  const parts = ctx.path.split('/').filter(p => p !== '');
  if (ctx.method !== 'GET' || ctx.query.uploads === undefined || parts.length !== 1) return next();
  const bucket = parts[0];
  const prefix = String(ctx.query.prefix || '');
  const root = server.store.getResourcePath(bucket, undefined, 'uploads');
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>`;
  const ids = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (const id of ids) {
    const keyFile = path.join(root, id, 'key');
    if (!fs.existsSync(keyFile)) continue;
    const key = fs.readFileSync(keyFile).toString();
    if (key.startsWith(prefix)) {
      xml += `<Upload><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></Upload>`;
    }
  }
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = xml + '</ListMultipartUploadsResult>';
  return undefined;
}

// Before the router (the last middleware).
server.middleware.splice(server.middleware.length - 1, 0, abortUpload, listUploads);

server.run().then(address => {
  process.stdout.write(`port ${address.port}\n`);
}, err => {
  process.stderr.write(`s3rver: ${err}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

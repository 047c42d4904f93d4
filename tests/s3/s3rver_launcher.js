#!/usr/bin/env node
// Starts s3rver (npm, installed into tests/s3/node_modules by setup-s3rver.sh) for the S3
// sink's tests:  node s3rver_launcher.js DIRECTORY PORT BUCKET...
// Prints "port N" once it listens (PORT 0 picks a free one).  s3rver checks SigV4 signatures
// (key pair S3RVER / S3RVER) and Content-MD5.
//
// s3rver 3.7 lacks AbortMultipartUpload (DELETE ?uploadId answers 405); S3, MinIO and Ceph have
// it.  The middleware below adds it the way S3 behaves: the upload's stored parts are removed
// (204), or 404 NoSuchUpload if there is no such upload.  Open uploads are the directories
// <DIRECTORY>/<bucket>/uploads._S3rver_... /<upload id>: the tests look there for orphans.
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
server.middleware.splice(server.middleware.length - 1, 0, abortUpload);  // before the router

server.run().then(address => {
  process.stdout.write(`port ${address.port}\n`);
}, err => {
  process.stderr.write(`s3rver: ${err}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError } from '@dogestry/core';
import { idPrefixOf, parseNameTag } from '@dogestry/core/internal';

describe('references', () => {
  it('parses names and tags by the OCI grammar', () => {
    assert.deepEqual(parseNameTag('myapp'), { name: 'myapp', tag: 'latest' });
    assert.deepEqual(parseNameTag('team/app:1.0'), { name: 'team/app', tag: '1.0' });
    assert.deepEqual(parseNameTag('localhost/app:v2'), { name: 'localhost/app', tag: 'v2' });
    // A registry port has no place in a remote key: push such an image with `as`.
    assert.throws(() => parseNameTag('localhost:5000/app:v2'), { code: 'INVALID_REFERENCE', message: /--as \(for example --as app:TAG\)/ });
  });

  it("normalizes names as Docker does, to Docker's familiar short form", () => {
    for (const [given, name] of [
      ['docker.io/library/nginx:1', 'nginx'],
      ['index.docker.io/library/nginx:1', 'nginx'],
      ['library/nginx:1', 'nginx'],
      ['docker.io/team/app:1', 'team/app'],
      ['nginx:1', 'nginx'],
      ['registry.example.com/team/app:1', 'registry.example.com/team/app'],
      ['library/team/app:1', 'library/team/app'],
    ]) {
      assert.deepEqual(parseNameTag(given as string), { name, tag: '1' }, given);
    }
  });

  for (const bad of ['../x', 'UPPER', 'app:', 'a//b', '/abs', 'app:-x', 'a..b', 'app@sha256:00', '', 'x/../y']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseNameTag(bad), InvalidReferenceError);
    });
  }

  it('recognises image id prefixes', () => {
    assert.equal(idPrefixOf('3f2a'), '3f2a');
    assert.equal(idPrefixOf('sha256:3f2a9b'), '3f2a9b');
    assert.equal(idPrefixOf('3f2'), undefined);
    assert.equal(idPrefixOf('myapp'), undefined);
  });
});

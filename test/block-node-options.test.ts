// Block nodes from QEMU's option syntax: option strings, "json:{...}" filenames (compared with
// qemu-img on the same names), and the probed-raw warning and block-0 restriction (compared with
// what qemu-system-x86_64 prints).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlockError } from '../block/errors.ts';
import { parseJsonFilename, parseOptionString } from '../block/node-options.ts';
import { openImage, openNodeOptions } from '../block/open.ts';
import { probedRawWarning } from '../block/probed-raw.ts';
import { runOurs, runQemu, scratchDir } from './block-img-harness.ts';

const dir = scratchDir('tsemu-nodeopts-');
const qemuImg = (...args: string[]) => runQemu(dir, 'qemu-img', ...args);
const ours = (...args: string[]) => runOurs(dir, args);

describe('option strings', () => {
  it('split on commas, with ",," as a literal comma and an implied first key', () => {
    expect([...parseOptionString('driver=qcow2,file.filename=a,,b.img,read-only=on')]).toEqual([
      ['driver', 'qcow2'], ['file.filename', 'a,b.img'], ['read-only', 'on'],
    ]);
    expect([...parseOptionString('disk.img,format=raw', 'file')]).toEqual([['file', 'disk.img'], ['format', 'raw']]);
    expect([...parseOptionString('readonly,if=ide')]).toEqual([['readonly', 'on'], ['if', 'ide']]);
    expect([...parseOptionString('a=1,')]).toEqual([['a', '1']]);
    expect(parseOptionString('').size).toBe(0);
  });
  it('refuse repeated and empty keys', () => {
    expect(() => parseOptionString('a=1,a=2')).toThrow(BlockError);
    expect(() => parseOptionString('=x')).toThrow(/Invalid parameter/);
  });
});

describe('sizes in human output', () => {
  it('round like printf("%0.3g"): ties go to the even digit', async () => {
    for (const bytes of [197120, 1536, 2560, 3584, 1049088, 5120, 1023 * 1024 + 512, 10752, 1000 * 1024]) {
      qemuImg('create', '-q', '-f', 'raw', 's.raw', String(bytes));
      const q = qemuImg('info', '-f', 'raw', 's.raw').out.split('\n')[2];
      const t = (await ours('info', '-f', 'raw', 's.raw')).out.split('\n')[2];
      expect(t, String(bytes)).toBe(q);
    }
  });
});

describe('json: filenames', () => {
  it('nested objects and dotted keys give the same options', () => {
    const nested = parseJsonFilename('json:{"driver":"qcow2","file":{"driver":"file","filename":"x.qcow2"},"read-only":true}');
    const dotted = parseJsonFilename('json:{"driver":"qcow2","file.driver":"file","file.filename":"x.qcow2","read-only":true}');
    expect([...nested]).toEqual([...dotted]);
  });
  it('refuse what is not an object', () => {
    expect(() => parseJsonFilename('json:[1]')).toThrow('Invalid JSON object given');
    expect(() => parseJsonFilename('json:{"a":')).toThrow(/^Could not parse the JSON options/);
  });

  it('open like qemu-img: info output and errors are the same', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'j.qcow2', '4M');
    const abs = join(dir, 'j.qcow2');
    const names = [
      `json:{"driver":"qcow2","file":{"driver":"file","filename":"${abs}"}}`,
      `json:{"driver":"qcow2","file.filename":"${abs}"}`,
      `json:{"file.filename":"${abs}"}`,
      `json:{"driver":"raw","file.filename":"${abs}"}`,
      `json:{"driver":"qcow2","file":{"driver":"file","filename":"${dir}/nonexist"}}`,
      'json:{"driver":"qcow2"',
      'json:{"driver":"qcow2"}',
      `json:{"driver":"bogus","file.filename":"${abs}"}`,
      'json:[1]',
      // A string "file" or "backing" is a node reference in QEMU: there are none here.
      `json:{"driver":"qcow2","file":"${abs}"}`,
      `json:{"driver":"qcow2","file.filename":"${abs}","backing":"${abs}"}`,
      // info opens no backing file, so backing options find no taker (but null is fine).
      `json:{"driver":"qcow2","file.filename":"${abs}","backing":{"driver":"qcow2","file.filename":"${abs}"}}`,
      `json:{"driver":"qcow2","file.filename":"${abs}","backing":null}`,
    ];
    for (const name of names) {
      const q = qemuImg('info', name);
      const t = await ours('info', name);
      expect(t.code, name).toBe(q.code);
      // Disk usage depends on the host: compare everything else.
      const strip = (s: string) => s.replace(/^disk size: .*$/m, '');
      expect(strip(t.out), name).toBe(strip(q.out));
      if (q.code !== 0) {
        expect(t.err.length).toBeGreaterThan(0);
        // The same message, except where qemu quotes its JSON parser's wording.
        if (!q.err.includes('JSON parse error')) expect(t.err, name).toBe(q.err);
        else expect(t.err).toMatch(/^qemu-img: Could not open '.*': Could not parse the JSON options: /);
      }
    }
  });

  it('"backing": null cuts the chain, and reads equal qemu-img convert of the same name', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'b.qcow2', '2M');
    spawnSync('qemu-io', ['-c', 'write -P 0x11 0 1M', join(dir, 'b.qcow2')]);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'b.qcow2', '-F', 'qcow2', 'o.qcow2');
    spawnSync('qemu-io', ['-c', 'write -P 0x22 512k 64k', join(dir, 'o.qcow2')]);
    for (const backing of ['null', `{"driver":"qcow2","file":{"driver":"file","filename":"${dir}/b.qcow2"}}`]) {
      const name = `json:{"driver":"qcow2","file.filename":"${dir}/o.qcow2","backing":${backing}}`;
      expect(qemuImg('convert', '-O', 'raw', name, 'q.raw').code).toBe(0);
      const node = await openImage(name, { readOnly: true });
      const got = new Uint8Array(node.length());
      await node.read(0, got);
      await node.close();
      expect(Buffer.compare(Buffer.from(got), readFileSync(join(dir, 'q.raw'))), backing).toBe(0);
    }
  });

  it('refuse options the driver does not have', async () => {
    const opts = parseOptionString(`driver=qcow2,file.filename=${dir}/j.qcow2,frobnicate=1`);
    await expect(openNodeOptions(opts)).rejects.toThrow("Block format 'qcow2' does not support the option 'frobnicate'");
    const ok = parseOptionString(`driver=qcow2,file.filename=${dir}/j.qcow2,l2-cache-size=1M,cache.direct=off,read-only=on`);
    const node = await openNodeOptions(ok);
    expect(node.readOnly).toBe(true);
    await node.close();
  });
});

/** The first lines qemu-system-x86_64 writes to stderr for a -drive without format=. */
function qemuProbeWarning(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', ['-display', 'none', '-S', '-monitor', 'none', '-nodefaults', '-drive', `file=${file},if=ide`]);
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.split('\n').length > 3) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(err.split('\n').slice(0, 3).join('\n') + '\n');
    });
  });
}

describe('probed raw images', () => {
  it('warn in QEMU\'s words and refuse writes that would change the probed format', async () => {
    const file = join(dir, 'probe.img');
    writeFileSync(file, new Uint8Array(1 << 20));
    expect(probedRawWarning(file)).toBe(await qemuProbeWarning(file));

    const warnings: string[] = [];
    const node = await openImage(file, { warn: (t) => warnings.push(t) });
    expect(warnings).toEqual([probedRawWarning(file)]);
    // The qcow2 magic and version at offset 0 would make the next open probe qcow2.
    const magic = new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
    await expect(node.write(0, magic)).rejects.toThrow(/probed/);
    // Spelled over two writes: the second completes the magic and is refused.
    await node.write(0, magic.subarray(0, 4));
    await expect(node.write(4, magic.subarray(4))).rejects.toThrow(/probed/);
    // Other data in block 0, and anything past it, is written.
    await node.write(0, new Uint8Array([0xeb, 0x3c, 0x90]));
    await node.write(512, magic);
    const back = new Uint8Array(8);
    await node.read(512, back);
    expect([...back]).toEqual([...magic]);
    await node.close();
    // A named raw format has no restriction.
    const named = await openImage(file, { format: 'raw', warn: (t) => warnings.push(t) });
    await named.write(0, magic);
    await named.close();
    expect(warnings.length).toBe(1);
  });
});

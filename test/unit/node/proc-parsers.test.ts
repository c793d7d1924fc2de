import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  computeCpuPercent,
  countCpuinfoProcessors,
  findMountPoint,
  parseCpuModel,
  parseCpuTicks,
  parseLoadavg,
  parseMountPoints,
  parseNetDev,
  parseOsRelease,
  parseUptimeS,
} from '../../../src/node/proc-parsers.js';

const NET_HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

describe('proc parsers', () => {
  it('cpu ticks: leaves guest time out of the total (already in user) and counts iowait as idle', () => {
    assert.deepEqual(parseCpuTicks('cpu  100 10 50 800 20 5 15 0 30 7\ncpu0 1 2 3 4\n'), {
      totalTicks: 1000,
      idleTicks: 820,
    });
    assert.deepEqual(parseCpuTicks('cpu 1 2 3 4\n'), { totalTicks: 10, idleTicks: 4 });
    assert.equal(parseCpuTicks('cpu0 1 2 3 4\n'), undefined);
    assert.equal(parseCpuTicks('cpu  a b c d\n'), undefined);
  });

  it('cpu percent: busy share of the elapsed ticks, clamped to [0, 100], undefined when none elapsed', () => {
    const before = { totalTicks: 1000, idleTicks: 800 };
    assert.equal(computeCpuPercent(before, { totalTicks: 1300, idleTicks: 1000 }), 33.33);
    assert.equal(computeCpuPercent(before, before), undefined);
    assert.equal(computeCpuPercent(before, { totalTicks: 1100, idleTicks: 750 }), 100);
    assert.equal(computeCpuPercent(before, { totalTicks: 1100, idleTicks: 950 }), 0);
  });

  it('loadavg and uptime', () => {
    assert.deepEqual(parseLoadavg('0.52 0.58 0.59 1/213 12345\n'), [0.52, 0.58, 0.59]);
    assert.equal(parseLoadavg('0.5\n'), undefined);
    assert.equal(parseUptimeS('123456.78 480123.45\n'), 123456.78);
    assert.equal(parseUptimeS('\n'), undefined);
  });

  it('net/dev: every interface but lo, counters touching the colon, at most 64', () => {
    const text = `${NET_HEADER}    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0:4294967296 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n`;
    assert.deepEqual(parseNetDev(text), [{ iface: 'eth0', rxBytes: 4294967296, txBytes: 7 }]);
    const many = Array.from({ length: 70 }, (_, i) => `veth${i}: ${i} 0 0 0 0 0 0 0 ${i * 2} 0 0 0 0 0 0 0`);
    const nets = parseNetDev(`${NET_HEADER}${many.join('\n')}\n`);
    assert.equal(nets.length, 64);
    assert.deepEqual(nets[63], { iface: 'veth63', rxBytes: 63, txBytes: 126 });
  });

  it('mounts: decodes octal escapes and picks the longest whole-component prefix', () => {
    const points = parseMountPoints(
      '/dev/a / ext4 rw 0 0\n/dev/b /mnt/usb\\040disk ext4 rw 0 0\nproc /proc proc rw 0 0\n',
    );
    assert.deepEqual(points, ['/', '/mnt/usb disk', '/proc']);
    const mounts = ['/', '/srv', '/srv/data', '/srv/dat'];
    assert.equal(findMountPoint(mounts, '/srv/data/node'), '/srv/data');
    assert.equal(findMountPoint(mounts, '/srv/data'), '/srv/data');
    assert.equal(findMountPoint(mounts, '/srv/database'), '/srv');
    assert.equal(findMountPoint(mounts, '/home/pi'), '/');
    assert.equal(findMountPoint([], '/home/pi'), '/');
  });

  it('cpuinfo: model name, else the ARM core from implementer and part, and the processor count', () => {
    assert.equal(parseCpuModel('processor\t: 0\nmodel name\t: AMD EPYC\n'), 'AMD EPYC');
    assert.equal(parseCpuModel('CPU implementer\t: 0x41\nCPU part\t: 0xd03\n'), 'ARM Cortex-A53');
    assert.equal(parseCpuModel('CPU implementer\t: 0x41\nCPU part\t: 0xfff\n'), 'ARM (part 0xfff)');
    assert.equal(parseCpuModel('processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n'), 'ARM Cortex-A72');
    assert.equal(
      parseCpuModel('processor\t: 0\nProcessor\t: ARMv6-compatible rev 7 (v6l)\n'),
      'ARMv6-compatible rev 7 (v6l)',
    );
    assert.equal(parseCpuModel('Hardware\t: BCM2835\n'), 'BCM2835');
    assert.equal(parseCpuModel(''), undefined);
    assert.equal(countCpuinfoProcessors('processor\t: 0\n\nprocessor\t: 1\n'), 2);
  });

  it('os-release: distro and release the way systeminformation forms them', () => {
    assert.equal(
      parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'),
      'Debian GNU/Linux 12',
    );
    assert.equal(parseOsRelease('NAME="Fedora Linux"\nVERSION="40 (Server Edition)"\n'), 'Fedora Linux 40');
    assert.equal(parseOsRelease("NAME='Alpine Linux'\nVERSION_ID=3.20.0\n"), 'Alpine Linux 3.20.0');
    assert.equal(parseOsRelease('NAME=Gentoo\n'), 'Gentoo');
    assert.equal(parseOsRelease('garbage'), undefined);
  });
});

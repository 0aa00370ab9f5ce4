// The build phase, search and first error over a LogBuffer (what the log panel shows while a
// PlatformIO build runs without a percentage).
import { describe, expect, it } from 'vitest';
import { LogBuffer } from '../log-buffer';
import { buildPhase, firstErrorRow, searchLog } from '../log-scan';

function buf(lines: string[]): LogBuffer {
  const b = new LogBuffer();
  b.reset(lines.map((l) => `${l}\n`));
  return b;
}

describe('log scan', () => {
  it('phase: counts Compiling lines, then Linking, then the image', () => {
    const b = buf(['INFO Reading configuration /c/x.yaml...']);
    expect(buildPhase(b).text).toBe('Reading configuration…');
    b.applyBatch(b.length, ['INFO Compiling app...\n', 'Processing x (board: esp01_1m; framework: arduino; platform: espressif8266)\n', 'Compiling .pioenvs/x/src/main.cpp.o\n', '\x1b[32mCompiling .pioenvs/x/a.o\x1b[0m\n']);
    expect(buildPhase(b)).toEqual({ text: 'Compiling 2 files…', compiled: 2 });
    b.applyBatch(b.length, ['Compiling .pioenvs/x/b.o\n']);
    expect(buildPhase(b).text).toBe('Compiling 3 files…');
    b.applyBatch(b.length, ['Linking .pioenvs/x/firmware.elf\n']);
    expect(buildPhase(b).text).toBe('Linking…');
    b.applyBatch(b.length, ['Building .pioenvs/x/firmware.bin\n']);
    expect(buildPhase(b).text).toBe('Building the firmware image…');
  });

  it('search covers every row held; first error finds the compiler line', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => (i === 4321 ? "src/main.cpp:412:7: error: 'foo' was not declared" : `Compiling f${i}.o`));
    const b = buf(lines);
    expect(searchLog(b, 'COMPILING F12')).toEqual([12, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 1200, 1201, 1202, 1203, 1204, 1205, 1206, 1207, 1208, 1209, 1210, 1211, 1212, 1213, 1214, 1215, 1216, 1217, 1218, 1219, 1220, 1221, 1222, 1223, 1224, 1225, 1226, 1227, 1228, 1229, 1230, 1231, 1232, 1233, 1234, 1235, 1236, 1237, 1238, 1239, 1240, 1241, 1242, 1243, 1244, 1245, 1246, 1247, 1248, 1249, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258, 1259, 1260, 1261, 1262, 1263, 1264, 1265, 1266, 1267, 1268, 1269, 1270, 1271, 1272, 1273, 1274, 1275, 1276, 1277, 1278, 1279, 1280, 1281, 1282, 1283, 1284, 1285, 1286, 1287, 1288, 1289, 1290, 1291, 1292, 1293, 1294, 1295, 1296, 1297, 1298, 1299]);
    expect(firstErrorRow(b)).toBe(4321);
    expect(searchLog(b, '  ')).toEqual([]);
  });
});

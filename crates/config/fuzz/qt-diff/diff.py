"""Differential test of the INI reader against Qt 5's QSettings (the library Pushpin 1.36
links). Needs qtbase5-dev and g++; see README.md. Usage: diff.py SEED COUNT"""
import random, subprocess, os, sys, tempfile
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
alpha = ['@ByteArray(', '@String(', '@Rect(1 2 3 4)', '@Size(1 2)', '@Point(', '@Variant(', ')', '@@', '\\n', '\\t', '\\"', '\\?', '\\101', '\\x41', '\\xe9', '\\\n', '\\\r\n', 'v1, v2', '" q "', ',,', '%U0041', '%41', '\\', '[', ']', '=', ';', ',', '"', '\\', ' ', '\t', '\n', '\r\n', '\r', 'a', 'b', 'k', 'x', '@', '%', '4', '1', '#', '/', 'G', 'general', '[s]\n', 'k=', '\n;c\n', '\\x4', '\\0', '@Invalid()', ' = ', 'é']
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300
cases = tempfile.mkdtemp(prefix='qt-diff-')
files = []
for n in range(N):
    s = ''.join(random.choice(alpha) for _ in range(random.randint(1, 40)))
    p = f'{cases}/{n}.ini'
    open(p, 'wb').write(s.encode('latin-1', errors='replace'))
    files.append(p)
def run(cmd):
    out = subprocess.run(cmd + files, capture_output=True).stdout.decode()
    def ok(line):
        k = line.split('|')[0]
        return k != '' and not k.startswith('/') and not k.endswith('/') and '//' not in k
    return [sorted(l for l in block.strip('\n').split('\n') if l and ok(l)) for block in out.split('@@END@@\n')[:-1]]
here = os.path.dirname(os.path.abspath(__file__))
qt = run([os.path.join(here, 'dump')])
rs = run([os.environ.get('INIDUMP', os.path.join(here, '../../../../target/debug/examples/inidump'))])
bad = 0
for p, a, b in zip(files, qt, rs):
    if a != b:
        bad += 1
        if bad <= 8:
            print('---', p, repr(open(p, 'rb').read()))
            print(' qt:', a)
            print(' rs:', b)
print('mismatches', bad, 'of', len(files))

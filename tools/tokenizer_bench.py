#!/usr/bin/python3
# tokenizer_bench.py — encoding speed of `cogvideo tokenize` next to the
# official SentencePiece library (python3-sentencepiece) on the same text, in
# the same run, and whether both give the same ids on it.
#
#   tests/test_tokenizer --bench --bench-text /tmp/mixed.txt   # writes the long mixed text
#   tools/tokenizer_bench.py ./cogvideo /tmp/mixed.txt testdata/tokenizer/uni.model testdata/tokenizer/bpe.model
#
# The Python side loads each model as icetk does (the three special pieces
# appended, see make_tokenizer_golden) and encodes the bytes of the file in
# one call (best of 3); ours is `cogvideo tokenize --bench` (best of >= 3).
import importlib.machinery
import json
import os
import re
import subprocess
import sys
import time

import sentencepiece as spm

here = os.path.dirname(os.path.abspath(__file__))
golden = importlib.machinery.SourceFileLoader('make_tokenizer_golden',
                                              os.path.join(here, 'make_tokenizer_golden')).load_module()


def official(model, text):
    sp = spm.SentencePieceProcessor()
    with open(model, 'rb') as f:
        sp.LoadFromSerializedProto(golden.add_special_tokens(f.read(), golden.SPECIALS))
    best, ids = 1e30, None
    for _ in range(3):
        t0 = time.perf_counter()
        ids = sp.EncodeAsIds(text)
        best = min(best, time.perf_counter() - t0)
    return len(text) / 1e6 / best, [i + golden.IMAGE_TOKENS for i in ids]


def ours(cogvideo, model, path):
    out = subprocess.run([cogvideo, 'tokenize', '-m', model, '--bench', path], check=True,
                         capture_output=True, text=True).stdout
    rate = float(re.search(r'([0-9.]+) MB/s', out).group(1))
    js = subprocess.run([cogvideo, 'tokenize', '-m', model, '--json', '--input', path], check=True,
                        capture_output=True).stdout
    return rate, json.loads(js.decode('utf-8', 'surrogateescape'))['ids']


def main():
    if len(sys.argv) < 4:
        sys.exit('usage: tokenizer_bench.py COGVIDEO TEXT_FILE MODEL...')
    cogvideo, path = sys.argv[1], sys.argv[2]
    with open(path, 'rb') as f:
        text = f.read()
    print('text: {} ({} bytes); sentencepiece {}'.format(path, len(text), spm.__version__))
    for model in sys.argv[3:]:
        r_off, ids_off = official(model, text)
        r_ours, ids_ours = ours(cogvideo, model, path)
        print('{}: cogvideo {:.2f} MB/s, official {:.2f} MB/s ({:.2f}x); {} ids, {}'.format(
            os.path.basename(model), r_ours, r_off, r_ours / r_off, len(ids_off),
            'identical' if ids_ours == ids_off else 'DIFFERENT'))


if __name__ == '__main__':
    main()

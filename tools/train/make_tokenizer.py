#!/usr/bin/python3
"""make_tokenizer.py — tiny.model: the SentencePiece tokenizer of cogvideo-tiny
(issue 7), in icetk's layout (tools/train/TINY.md).

  tools/train/make_tokenizer.py [--out tools/train/tiny.model] [--pieces P] [--corpus-out FILE]

Corpus (generated, deterministic): every caption of every phrasing
(canonical, moving, list, zh) of every attribute combination, held-out ones
included (the tokenizer must know every word), each also with the pipeline's
first-frame suffix " 高清摄影", plus the pipeline strings "4.0秒" "2.0秒"
"1.0秒" "0.5秒" " 高清摄影" " 视频" "视频".

Layout: P pieces, 0 <unk>, 1 <s>, 2 </s>, 3 <pad>, 4 <n> (user-defined);
with 512 image tokens, text piece k has id 512 + k, <n> = 516 and
<start_of_image> = 512 + P.  Prints P.

Deterministic like tools/make-tokenizer-a: one thread, no sentence sampling
or shuffling, a fixed seed, spm_train run in a scratch directory on relative
names.  Needs spm_train (Debian package sentencepiece, 0.1.97)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tinydata'))
import tinydata  # noqa: E402

PIECES = 100
# Chinese has no blanks, so unigram would learn whole caption fragments
# ("一个绿色三角形在...") as pieces and a held-out combination would get pieces
# of its own; these words are user-defined pieces instead (spm matches them
# longest first anywhere in the text), so every Chinese caption is a sequence
# of these words and composes like the English ones.
ZH_WORDS = (['一个', '小的', '大的', '在', '背景上', '高清摄影', '视频', '秒']
            + list(tinydata.ZH_COLOURS.values()) + list(tinydata.ZH_BACKGROUNDS.values())
            + list(tinydata.ZH_SHAPES.values()) + list(tinydata.ZH_MOVES.values()))
PIPELINE = ['4.0秒', '2.0秒', '1.0秒', '0.5秒', ' 高清摄影', ' 视频', '视频']
SUFFIX = ' 高清摄影'


def spm_flags(pieces):
    return ['--model_type=unigram', '--vocab_size=%d' % pieces, '--character_coverage=1.0',
            '--unk_id=0', '--bos_id=1', '--eos_id=2', '--pad_id=3', '--user_defined_symbols=' + ','.join(['<n>'] + ZH_WORDS),
            '--num_threads=1', '--random_seed=1', '--shuffle_input_sentence=false',
            '--input_sentence_size=0', '--minloglevel=2']


def all_specs():
    """Every attribute combination (held-out ones included), fixed order."""
    for shape in tinydata.SHAPES:
        for colour in tinydata.COLOURS:
            for bg in tinydata.BACKGROUNDS:
                for motion in tinydata.MOTIONS:
                    for size in ((None,) if motion in ('grow', 'shrink') else tinydata.SIZES):
                        yield {'shape': shape, 'colour': colour, 'background': bg, 'motion': motion,
                               'size': size}


def corpus_lines():
    lines, seen = [], set()
    for spec in all_specs():
        for ph in tinydata.PHRASINGS:
            c = tinydata.caption(spec, ph)
            if c not in seen:
                seen.add(c)
                lines += [c, c + SUFFIX]
    # each English word also alone on a line: spm seeds unigram pieces from
    # maximal repeats, and a word always followed by the same next word
    # ("white background") would otherwise never be a seed, only characters
    words = sorted({w for line in lines for w in line.replace(',', ' ').split() if w.isascii()})
    lines += words
    for d in ('4.0', '2.0', '1.0', '0.5'):
        lines.append(d + '秒')
    lines += [s.strip() for s in PIPELINE[4:]]
    return lines


def train(lines, pieces, model):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'corpus.txt'), 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
        r = subprocess.run(['spm_train', '--input=corpus.txt', '--model_prefix=tiny'] + spm_flags(pieces), cwd=d,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if r.returncode != 0:
            sys.exit('make_tokenizer: spm_train failed for P = %d:\n%s' % (pieces, r.stdout[-2000:]))
        with open(os.path.join(d, 'tiny.vocab'), encoding='utf-8') as f:
            vocab = [line.split('\t')[0] for line in f]
        want = ['<unk>', '<s>', '</s>', '<pad>', '<n>']
        if len(vocab) != pieces or vocab[:5] != want:
            sys.exit('make_tokenizer: %d pieces starting %s (expected %d starting %s)'
                     % (len(vocab), vocab[:5], pieces, want))
        r = subprocess.run(['spm_encode', '--model=tiny.model', '--output_format=id', '--input=corpus.txt'], cwd=d,
                           stdout=subprocess.PIPE, universal_newlines=True, check=True)
        bad = [line for line, ids in zip(lines, r.stdout.splitlines()) if '0' in ids.split()]
        if bad:
            sys.exit('make_tokenizer: <unk> in %d corpus lines, e.g. %r' % (len(bad), bad[0]))
        shutil.copyfile(os.path.join(d, 'tiny.model'), model)
        return vocab


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(HERE, 'tiny.model'))
    ap.add_argument('--pieces', type=int, default=PIECES, help='P (default %d)' % PIECES)
    ap.add_argument('--corpus-out', help='also write the corpus here')
    a = ap.parse_args()
    lines = corpus_lines()
    if a.corpus_out:
        with open(a.corpus_out, 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')
    train(lines, a.pieces, a.out)
    print('wrote %s (%d corpus lines)' % (os.path.normpath(a.out), len(lines)))
    print('P = %d: text piece k -> id 512 + k, <n> = 516, <start_of_image> = %d, model vocab = %d'
          % (a.pieces, 512 + a.pieces, 512 + a.pieces + 10))


if __name__ == '__main__':
    main()

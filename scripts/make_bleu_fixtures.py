#!/usr/bin/env python3
"""Write test/fixtures/metrics/bleu.json: sacreBLEU's own BLEU numbers and 13a tokenizations.

The TypeScript port in src/metrics/ (bleu.ts, tokenizer13a.ts) is tested against this file
(test/metrics/bleu.test.ts), so every number in it comes from running real sacreBLEU, never
from our code.

Requirements: sacrebleu 2.x (made with 2.6.0). Debian has no python3-sacrebleu package, so
install it into a virtual environment, e.g.

    python3 -m venv /tmp/sbvenv && /tmp/sbvenv/bin/pip install sacrebleu==2.6.0
    /tmp/sbvenv/bin/python scripts/make_bleu_fixtures.py

The script is deterministic; re-running it with the same sacreBLEU version gives the same file.

Fixture layout:
  tokenize13a: [{input, output}]            sacrebleu Tokenizer13a()(input)
  format_fixed: [{x, width, output}]         Python's f'{x:.{width}f}', as BLEUScore.format uses
  corpus: [{name, hyps, refs, kwargs, expected}]
      refs are sacreBLEU's layout: refs[k][i] is the k-th reference of segment i (None allowed)
      kwargs are sacrebleu.metrics.BLEU(**kwargs) arguments (snake_case)
  sentence: [{name, hyp, refs, kwargs, expected}]   BLEU(**kwargs).sentence_score(hyp, refs)
      kwargs always include effective_order (sacrebleu.sentence_bleu's default is True)
  expected = {score, counts, totals, precisions, bp, sys_len, ref_len, ratio, format, format4}
"""

import json
import os
import sys

import sacrebleu
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures',
                   'metrics', 'bleu.json')

# The example from sacreBLEU's README ("Using SacreBLEU from Python"); documented score 48.53.
README_HYPS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
README_REFS = [
    ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
    ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
]

PUNCT = [
    'Hello, world! How are you? (Fine); "quoted" [brackets] {braces} a/b a\\b ~t ^c _u `t` |p|',
    "It's John's book -- isn't it? Yes: 100% #1 @home * + = < > & $5",
]
NUMBERS = [
    'It costs $3.5 million, or 1,000 euros (not 1.000,00).',
    'Pi is 3.14159; 2,5 and 10.000 and 1.2.3 and 5. and .5 and ,6 and x,y and a.b',
    'Call 555-1234 between 9-5, from 1990-2000 and 3 - 4.',
]
DASHES = [
    'A well-known state-of-the-art model -- from pre- and post-war x-ray -',
    'line-\nbreak and multi\nline and <skipped> gone',
    'em\u2014dash and en\u2013dash and minus \u2212 1',
]
QUOTES = [
    'He said "hi" and \'bye\' then \u2018curly\u2019 \u201cdouble\u201d \u00abguillemets\u00bb.',
    "Don't won't can't 'tis rock'n'roll O'Neil",
]
ENTITIES = [
    'x &lt; y &amp;&amp; y &gt; z, she said &quot;hi&quot;.',
    'Keep &apos;apos&apos; &#39; &nbsp; &amp;quot; &AMP; & alone &',
    'AT&amp;T and R&D &lt;b&gt;bold&lt;/b&gt;',
]
NON_ASCII = [
    'Die Stra\u00dfe ist sch\u00f6n, \u00c4\u00d6\u00dc \u00e4\u00f6\u00fc \u00df.',
    '\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\uff0c\u597d\u7684\u3002',
    '\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002',
    '\u0391\u03a3 \u039f\u0394\u039f\u03a3. \u0130stanbul caf\u00e9 na\u00efve \U0001F44D\U0001F3FD great!',
]
WHITESPACE = [
    'tabs\tand  double  spaces\u00a0nbsp\u3000ideographic\u2009thin',
    'trailing whitespace   \t',
    '\ufeffBOM is not whitespace\ufeff',
    'NEL\x85and\x1cfile\x1dseparators',
    '   leading spaces',
    '',
]


def expected(score):
    return {
        'score': score.score,
        'counts': list(score.counts),
        'totals': list(score.totals),
        'precisions': list(score.precisions),
        'bp': score.bp,
        'sys_len': score.sys_len,
        'ref_len': score.ref_len,
        'ratio': score.ratio,
        'format': score.format(),
        'format4': score.format(width=4),
    }


def corpus_case(name, hyps, refs, **kwargs):
    score = BLEU(**kwargs).corpus_score(hyps, refs)
    return {'name': name, 'hyps': hyps, 'refs': refs, 'kwargs': kwargs,
            'expected': expected(score)}


def sentence_case(name, hyp, refs, **kwargs):
    kwargs.setdefault('effective_order', True)
    score = BLEU(**kwargs).sentence_score(hyp, refs)
    return {'name': name, 'hyp': hyp, 'refs': refs, 'kwargs': kwargs,
            'expected': expected(score)}


def main():
    corpus = []
    # README example with every option that changes the number.
    corpus.append(corpus_case('readme', README_HYPS, README_REFS))
    for method in ['none', 'floor', 'add-k', 'exp']:
        corpus.append(corpus_case(f'readme smooth={method}', README_HYPS, README_REFS,
                                  smooth_method=method))
    corpus.append(corpus_case('readme floor 0.3', README_HYPS, README_REFS,
                              smooth_method='floor', smooth_value=0.3))
    corpus.append(corpus_case('readme add-k 2', README_HYPS, README_REFS,
                              smooth_method='add-k', smooth_value=2))
    corpus.append(corpus_case('readme lowercase', README_HYPS, README_REFS, lowercase=True))
    corpus.append(corpus_case('readme effective_order', README_HYPS, README_REFS,
                              effective_order=True))
    corpus.append(corpus_case('readme max_ngram_order=2', README_HYPS, README_REFS,
                              max_ngram_order=2))
    corpus.append(corpus_case('readme max_ngram_order=6', README_HYPS, README_REFS,
                              max_ngram_order=6))
    corpus.append(corpus_case('readme tokenize=none', README_HYPS, README_REFS, tokenize='none'))
    corpus.append(corpus_case('readme first reference stream only', README_HYPS,
                              README_REFS[:1]))

    # Tokenizer-sensitive corpora: hypotheses are perturbed copies of the references.
    def perturb(s):
        return s.replace(',', ' ,').replace('.', '').replace('-', ' ').replace('&amp;', '&')

    groups = [('punctuation', PUNCT), ('numbers', NUMBERS), ('dashes', DASHES),
              ('quotes', QUOTES), ('html entities', ENTITIES), ('non-ascii', NON_ASCII),
              ('whitespace', WHITESPACE)]
    for name, refs in groups:
        hyps = [perturb(s) for s in refs]
        for method in ['exp', 'none', 'floor', 'add-k']:
            corpus.append(corpus_case(f'{name} smooth={method}', hyps, [refs],
                                      smooth_method=method))
        corpus.append(corpus_case(f'{name} lowercase', [h.upper() for h in hyps], [refs],
                                  lowercase=True))
        corpus.append(corpus_case(f'{name} identical', refs, [refs]))

    # Edge cases.
    corpus.append(corpus_case('empty hypothesis in corpus', ['', 'The cat sat on the mat.'],
                              [['A dog ran.', 'The cat sat on the mat.']]))
    corpus.append(corpus_case('all hypotheses empty', ['', ''], [['A dog ran.', 'B.']]))
    corpus.append(corpus_case('empty hypothesis and reference', [''], [['']]))
    corpus.append(corpus_case('empty reference', ['some words here'], [['']]))
    corpus.append(corpus_case('hypothesis longer than references',
                              ['the cat sat on the mat and then it sat on the other mat too'],
                              [['the cat sat on the mat'], ['a cat was sitting on the mat']]))
    for method in ['exp', 'none', 'floor', 'add-k']:
        corpus.append(corpus_case(f'zero matches smooth={method}', ['alpha beta gamma delta'],
                                  [['one two three four five']], smooth_method=method))
        corpus.append(corpus_case(f'no 3- or 4-gram matches smooth={method}',
                                  ['the big cat ate a fish', 'dogs bark loudly'],
                                  [['the cat ate the big fish', 'the dogs bark']],
                                  smooth_method=method))
        corpus.append(corpus_case(f'shorter than 4 tokens smooth={method}', ['a b c'],
                                  [['a b c']], smooth_method=method))
        corpus.append(corpus_case(f'shorter than 4 tokens eff smooth={method}', ['a b c'],
                                  [['a b c']], smooth_method=method, effective_order=True))
    corpus.append(corpus_case('single segment', ['The quick brown fox jumps over the lazy dog.'],
                              [['The quick brown fox jumped over the lazy dog.']]))
    corpus.append(corpus_case('clipping (Papineni et al. 2002 Sec. 2.1)',
                              ['the the the the the the the'],
                              [['The cat is on the mat.'], ['There is a cat on the mat.']]))
    corpus.append(corpus_case('closest ref length tie -> shorter',
                              ['a b c d e'], [['a b c d'], ['a b c d e f']]))
    corpus.append(corpus_case('closest ref length tie -> shorter (order swapped)',
                              ['a b c d e'], [['a b c d e f'], ['a b c d']]))
    corpus.append(corpus_case('closest ref length picks nearer longer',
                              ['a b c d e'], [['a b'], ['a b c d e f']]))
    corpus.append(corpus_case('variable number of references (None)',
                              README_HYPS,
                              [README_REFS[0], [README_REFS[1][0], None, README_REFS[1][2]]]))
    corpus.append(corpus_case('three reference streams', README_HYPS,
                              README_REFS + [['A dog bit a man.', 'Nobody was surprised.',
                                              'He had been bitten by the man.']]))

    sentence = []
    sentence.append(sentence_case('readme segment 1', README_HYPS[0],
                                  [README_REFS[0][0], README_REFS[1][0]]))
    sentence.append(sentence_case('readme segment 2', README_HYPS[1],
                                  [README_REFS[0][1], README_REFS[1][1]]))
    sentence.append(sentence_case('readme segment 3', README_HYPS[2],
                                  [README_REFS[0][2], README_REFS[1][2]]))
    for method in ['exp', 'none', 'floor', 'add-k']:
        for eff in [True, False]:
            sentence.append(sentence_case(f'short smooth={method} eff={eff}', 'a b c x',
                                          ['a b c d'], smooth_method=method,
                                          effective_order=eff))
            sentence.append(sentence_case(f'two tokens smooth={method} eff={eff}', 'hello there',
                                          ['hello there'], smooth_method=method,
                                          effective_order=eff))
    sentence.append(sentence_case('lowercase', 'THE DOG BIT THE MAN.', ['The dog bit the man.'],
                                  lowercase=True))
    sentence.append(sentence_case('empty hypothesis', '', ['The dog bit the man.']))
    sentence.append(sentence_case('non-ascii', NON_ASCII[0], [NON_ASCII[0].replace(',', '')]))

    strings = []
    for s in (README_HYPS + README_REFS[0] + README_REFS[1] + PUNCT + NUMBERS + DASHES + QUOTES
              + ENTITIES + NON_ASCII + WHITESPACE):
        if s not in strings:
            strings.append(s)
    tok = Tokenizer13a()
    tokenize = [{'input': s, 'output': tok(s)} for s in strings]

    # Python's f'{x:.{w}f}' rounds the exact binary value half-to-even; JS toFixed rounds
    # exact ties up. BLEUScore.format() must follow Python.
    fixed = [0.125, 0.375, 2.5, 3.5, 12.25, 33.75, 2.675, 1.005, 0.0, 100.0, 99.995, 99.99500000000001,
             48.530827009929865, 0.9428731438548749, 1e-300, 5e-324, 123456.785, 0.05, 0.15, 0.25]
    format_fixed = [{'x': x, 'width': w, 'output': f'{x:.{w}f}'} for x in fixed for w in [0, 1, 2, 3, 4]]

    data = {
        'generator': 'scripts/make_bleu_fixtures.py',
        'sacrebleu_version': sacrebleu.__version__,
        'python_version': sys.version.split()[0],
        'tokenize13a': tokenize,
        'format_fixed': format_fixed,
        'corpus': corpus,
        'sentence': sentence,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write('\n')
    readme = corpus[0]['expected']
    print(f"wrote {os.path.normpath(OUT)}: {len(tokenize)} tokenizations, {len(corpus)} corpus "
          f"cases, {len(sentence)} sentence cases; README example: {readme['format']}")


if __name__ == '__main__':
    main()

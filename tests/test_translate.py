"""Translate-test with a tiny seq2seq model built in the test (no network)."""

import pytest

from optical.models import ModelError
from optical.retrieval.translate import Translator


@pytest.fixture(scope="module")
def tiny_translator(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("mt")
    words = ["<pad>", "<s>", "</s>", "<unk>", "eng_Latn", "hau_Latn", "a", "ina", "bbc", "take", "where", "is"]
    core = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(folder)
    torch.manual_seed(0)
    config = BartConfig(vocab_size=len(words), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                        max_position_embeddings=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                        decoder_start_token_id=2)
    BartForConditionalGeneration(config).save_pretrained(folder)
    return folder


def test_language_codes_batching_and_cache(tiny_translator, tmp_path):
    mt = Translator(str(tiny_translator), device="cpu", batch_size=2, max_length=4, cache=tmp_path)
    assert mt._codes("hau") == ("hau_Latn", mt.tokenizer.get_vocab()["eng_Latn"])
    with pytest.raises(ValueError, match="no language code for 'amh'"):
        mt._codes("amh")
    calls = []
    generate = mt.model.generate
    mt.model.generate = lambda **kw: calls.append(kw) or generate(**kw)
    texts = ["a ina bbc take", "ina bbc", "a", "take bbc", "a ina bbc take"]  # one repeat
    out = mt.translate(texts, "hau")
    assert len(out) == 5 and out[0] == out[4]
    assert len(calls) == 2  # 4 distinct texts in batches of 2
    assert all(c["forced_bos_token_id"] == mt.tokenizer.get_vocab()["eng_Latn"] for c in calls)
    assert all(o.split()[0] == "eng_Latn" for o in out)  # English forced as the first generated token
    again = Translator(str(tiny_translator), device="cpu", cache=tmp_path)
    again.model.generate = lambda **kw: pytest.fail("cached translations must not be generated again")
    assert again.translate(texts, "hau") == out


def test_offline_translator_fails_clearly(monkeypatch):
    monkeypatch.setattr("optical.env.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelError, match="ceiling"):
        Translator("facebook/nllb-200-distilled-600M")

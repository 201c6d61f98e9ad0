"""Distillation losses on hand-made tensors (no model)."""

import ot
import pytest
import torch

from optical.config import TrainConfig
from optical.losses import DistillationLoss, IDFWeights, contrastive_distillation_loss, hard_alignment_token_loss, \
    mse_distillation_loss, ot_distillation_loss, parse_loss_name
from optical.losses.kd import greedy_matching
from optical.models import TokenOutput


def test_mse_kd_is_the_sum_of_two_elementwise_means():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s_l = torch.tensor([[0.0, 0.0], [0.0, 3.0]])  # squared errors 1,0,0,4 -> mean 1.25
    s_en = t.clone()
    loss, parts = mse_distillation_loss(s_l, s_en, t)
    assert loss.item() == pytest.approx(1.25)
    assert parts == {"kd_l": 1.25, "kd_en": 0.0, "kd": 1.25}
    loss, parts = mse_distillation_loss(s_l, None, t)
    assert "kd_en" not in parts and loss.item() == pytest.approx(1.25)


def test_centred_kd_ignores_a_shift_common_to_the_batch_and_nothing_else():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    shifted = t + torch.tensor([5.0, -3.0])  # the whole batch moved: zero loss once each side is centred
    assert mse_distillation_loss(shifted, shifted, t, center=True)[0].item() == pytest.approx(0.0, abs=1e-12)
    assert mse_distillation_loss(shifted, shifted, t)[0].item() > 1.0
    # by hand: student rows (0,0),(0,3) centre to (0,-1.5),(0,1.5); teacher to (.5,-.5),(-.5,.5);
    # squared errors .25,1,.25,1 -> mean .625
    s_l = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    loss, parts = mse_distillation_loss(s_l, None, t, center=True)
    assert loss.item() == pytest.approx(0.625)
    with pytest.raises(ValueError, match="at least 2"):
        mse_distillation_loss(s_l[:1], None, t[:1], center=True)


def test_contrastive_kd_is_cross_entropy_over_in_batch_cosines():
    torch.manual_seed(0)
    s, t = torch.randn(5, 8), torch.randn(5, 8)
    loss, logs = contrastive_distillation_loss(s, t, temperature=0.1)
    cos = torch.nn.functional.cosine_similarity(s[:, None, :], t[None, :, :], dim=-1)  # (5, 5), independent path
    expected = -(torch.log_softmax(cos / 0.1, dim=1).diagonal()).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["in_batch_top1"].item() == pytest.approx((cos.argmax(1) == torch.arange(5)).float().mean().item())
    perfect, logs = contrastive_distillation_loss(t * 3.0, t, temperature=0.01)  # own translation wins by far
    assert logs["in_batch_top1"].item() == 1.0 and perfect.item() < 1e-3
    with pytest.raises(ValueError, match="at least 2 pairs"):
        contrastive_distillation_loss(s[:1], t[:1])


def test_the_config_reaches_every_kd_option():
    config = TrainConfig(loss="contrastive-kd+kd", kd_center=True, kd_metric="cosine", temperature=0.2)
    loss = DistillationLoss.from_config(config)
    assert loss.parts["contrastive-kd"].temperature == 0.2
    assert loss.parts["kd"].center and loss.parts["kd"].metric == "cosine" and loss.needs_student_en


def test_greedy_matching_takes_the_cheapest_pairs_first():
    cost = torch.tensor([[[0.1, 0.2, 0.9],
                          [0.0, 0.5, 0.9],
                          [0.9, 0.9, 0.3]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    # cheapest (1,0)=0.0, then row 0 takes col 1 (0.2), then row 2 col 2
    assert greedy_matching(cost, mask, mask).tolist() == [[1, 0, 2]]
    # more rows than columns: the costliest row stays unmatched; padding is never matched
    col_mask = torch.tensor([[True, True, False]])
    assert greedy_matching(cost, mask, col_mask).tolist() == [[1, 0, -1]]


def test_hard_alignment_loss_on_a_known_matching():
    teacher = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    student = torch.tensor([[[0.0, 2.0], [2.0, 0.0]]], requires_grad=True)  # swapped and scaled
    mask = torch.ones(1, 2, dtype=torch.bool)
    loss, parts = hard_alignment_token_loss(student, mask, teacher, mask)
    # student 0 -> teacher 1, student 1 -> teacher 0; each squared error (1, 0) -> mean over 4 = 0.5
    assert loss.item() == pytest.approx(0.5)
    assert parts["matched_tokens"] == 2
    loss.backward()
    assert student.grad.abs().sum() > 0


def test_ot_loss_is_the_mean_transport_cost_and_matches_pot():
    torch.manual_seed(0)
    s = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 4, 8, dtype=torch.float64)
    sm = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    tm = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    loss, parts, res = ot_distillation_loss(s, sm, t, tm, epsilon=0.1, max_iter=5000, tol=1e-10)
    costs = []
    for k in range(2):
        S, T = s[k, sm[k]].detach().float(), t[k, tm[k]].float()
        C = (1 - torch.nn.functional.normalize(S, dim=-1) @ torch.nn.functional.normalize(T, dim=-1).T).double()
        a = torch.full((len(S),), 1 / len(S), dtype=torch.float64)
        b = torch.full((len(T),), 1 / len(T), dtype=torch.float64)
        costs.append(ot.sinkhorn2(a.numpy(), b.numpy(), C.numpy(), 0.1, method="sinkhorn_log", stopThr=1e-12,
                                  numItermax=10000))
    assert loss.item() == pytest.approx(sum(costs) / 2, abs=1e-5)
    assert parts["ot"] == pytest.approx(loss.item())
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad[0, 3:].abs().sum() == 0  # padding gets no gradient


def test_ot_loss_raises_on_nan_embeddings():
    s = torch.full((1, 2, 4), float("nan"))
    t = torch.randn(1, 2, 4)
    m = torch.ones(1, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="NaN"):
        ot_distillation_loss(s, m, t, m)


def test_idf_weights():
    idf = IDFWeights([[5, 6], [5]], [[7], [7], [8]], vocab_size=10)
    w = idf.student(torch.tensor([[5, 6]]))
    # df(5)=2, df(6)=1 of N=2 -> log(3/3)+1 = 1, log(3/2)+1
    torch.testing.assert_close(w, torch.tensor([[1.0, 1.0 + torch.log(torch.tensor(1.5)).item()]]))
    assert idf.teacher(torch.tensor([8]))[0] > idf.teacher(torch.tensor([7]))[0]


def _out(tokens, mask):
    pooled = torch.nn.functional.normalize(tokens.mean(1), dim=-1)
    return TokenOutput(tokens, mask, mask, torch.zeros(mask.shape, dtype=torch.long), pooled)


def test_combined_loss_is_the_weighted_sum_of_components():
    torch.manual_seed(1)
    m = torch.ones(2, 3, dtype=torch.bool)
    s_l, s_en, t = (_out(torch.randn(2, 3, 4), m) for _ in range(3))
    kd, kd_parts = DistillationLoss("kd")(s_l, s_en, t)
    ot_loss, _ = DistillationLoss("ot")(s_l, s_en, t)
    both, parts = DistillationLoss("ot+kd", weights={"ot": 2.0, "kd": 0.5})(s_l, s_en, t)
    assert both.item() == pytest.approx(2.0 * ot_loss.item() + 0.5 * kd.item(), rel=1e-5)
    assert {"ot", "kd", "kd_l", "kd_en", "loss"} <= set(parts)
    assert DistillationLoss("ot+kd").needs_student_en and not DistillationLoss("ot").needs_student_en


def test_loss_names_are_validated():
    assert parse_loss_name("ot+kd") == {"ot": 1.0, "kd": 1.0}
    assert parse_loss_name("token-kd") == {"token-kd": 1.0}
    with pytest.raises(ValueError, match="unknown loss"):
        parse_loss_name("ot+mse")
    with pytest.raises(ValueError, match="not in the loss"):
        parse_loss_name("ot", {"kd": 1.0})


def test_row_entropy_of_plans():
    from optical.studies.plans import row_entropy

    assert row_entropy(torch.eye(3) / 3) == pytest.approx(0.0, abs=1e-7)
    assert row_entropy(torch.full((2, 4), 1 / 8)) == pytest.approx(1.0)


def test_plan_row_entropy_by_hand_with_padding():
    from optical.losses import plan_row_entropy

    plan = torch.zeros(2, 3, 3)
    plan[0, 0, 1] = plan[0, 1, 0] = 0.5  # one-to-one on a 2 x 2 pair padded to 3 x 3
    plan[1] = 1.0 / 9  # uniform 3 x 3
    rows = torch.tensor([[True, True, False], [True, True, True]])
    assert plan_row_entropy(plan[:1], rows[:1], rows[:1]).item() == pytest.approx(0.0)
    assert plan_row_entropy(plan[1:], rows[1:], rows[1:]).item() == pytest.approx(1.0)
    assert plan_row_entropy(plan, rows, rows).item() == pytest.approx(3 / 5)  # 2 rows at 0, 3 rows at 1


def test_registry_builds_only_the_named_losses_whose_logs_stay_on_the_device():
    from optical.config import config_from_dict
    from optical.losses import LOSSES, register_loss

    torch.manual_seed(2)
    m = torch.ones(2, 3, dtype=torch.bool)
    s_l, s_en, t = (_out(torch.randn(2, 3, 4), m) for _ in range(3))
    assert set(DistillationLoss("kd").parts) == {"kd"} and set(DistillationLoss("ot+token-kd").parts) == {"ot", "token-kd"}
    for name in ("kd", "token-kd", "ot", "ot+kd"):
        _, logs = DistillationLoss(name)(s_l, s_en, t)
        assert logs and all(torch.is_tensor(v) for v in logs.values()), name  # read only at logging steps

    class Zero(torch.nn.Module):
        needs_student_en = False

        def forward(self, student_l, student_en, teacher_en):
            value = student_l.tokens.sum() * 0.0
            return value, {"zero": value.detach()}

    register_loss("zero", lambda config, idf: Zero())
    try:
        assert config_from_dict({"loss": "ot+zero"}).loss == "ot+zero"
        both, parts = DistillationLoss("ot+zero")(s_l, s_en, t)
        assert both.item() == pytest.approx(DistillationLoss("ot")(s_l, s_en, t)[0].item()) and "zero" in parts
    finally:
        from optical.config import LOSS_COMPONENTS

        LOSSES.pop("zero")
        LOSS_COMPONENTS.remove("zero")


def test_token_kd_by_hand_with_padding():
    student = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])  # third token is padding
    teacher = torch.tensor([[[0.0, 2.0], [2.0, 0.0]]])
    s_mask, t_mask = torch.tensor([[True, True, False]]), torch.tensor([[True, True]])
    loss, parts = hard_alignment_token_loss(student, s_mask, teacher, t_mask)
    # student 0 -> teacher 1, student 1 -> teacher 0: squared errors (1, 0) and (0, 1) -> mean over 2 x 2 = 0.5
    assert loss.item() == pytest.approx(0.5) and int(parts["matched_tokens"]) == 2

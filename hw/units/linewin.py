"""af_linewin: the line-buffered window (a ring of rows, loading overlapped with
emission) and its row schedule."""

from __future__ import annotations

from dataclasses import dataclass

from adderflow.errors import ConfigError
from adderflow.fixed import check_bits
from adderflow.hw.units.window import (
    WindowConfig,
    check_geometry,
    check_groups,
    geometry_parameters,
)

LINEWIN_COUNTER_BITS = 16  # af_linewin's signed counters (CW)
LINEWIN_SOURCES = ("af_linewin.v", "af_skid.v")
# af_linewin: an output row starts in the cycle after the edge that completes its last
# input row, and a beat emitted into the output slice leaves one cycle later.
LINEWIN_LATENCY = 2


@dataclass(frozen=True)
class LineWindowConfig(WindowConfig):
    """One af_linewin instance: a ring of ``ring_rows`` rows, loading overlapped with emission.

    The streams are af_window's without pooling (``pool`` must stay 1), so the data side is
    inherited: ``input_words``, ``windows`` (the NumPy window reference), ``out_size``,
    ``in_beats``, ``out_beats``. Only the checks, the HDL parameters and the cycle model
    differ. Construct with keywords past ``pad`` (``lanes=``), the field order being
    WindowConfig's.
    """

    def __post_init__(self) -> None:
        # Not WindowConfig's checks: its address bound is a whole frame's, this unit's is
        # the ring's, which is what lets it take frames af_window cannot hold.
        check_bits(self.bits, "line window code width")
        if self.pool != 1 or self.pool_mode != "max":
            raise ConfigError("af_linewin does not pool (pool must be 1); use af_window")
        kh, kw = check_geometry(self, "line window")
        check_groups(self, "line window")
        if self.channels % self.lanes:
            raise ConfigError(
                f"line window channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        top, left, bottom, right = self.pads
        if max(top, bottom) >= kh or max(left, right) >= kw:
            # The row accounting assumes every window holds a frame row (docs/rtl.md).
            raise ConfigError(
                f"line window padding {self.pad} must be below the kernel {self.kernel}"
            )
        if kh > self.height + top + bottom or kw > self.width + left + right:
            raise ConfigError(
                f"kernel {self.kernel} larger than the padded frame "
                f"{self.height + top + bottom}x{self.width + left + right}"
            )
        limit = 1 << (LINEWIN_COUNTER_BITS - 2)
        cg, (sh, sw) = self.channels // self.lanes, self.strides
        if (
            self.storage_words >= limit
            or (self.width + left + right + sw) * cg >= limit
            or self.height + top + bottom + sh >= limit
        ):
            raise ConfigError(
                f"line window {self.height}x{self.width}x{self.channels} (ring of "
                f"{self.ring_rows} rows) too large for af_linewin's "
                f"{LINEWIN_COUNTER_BITS}-bit address counters"
            )

    @property
    def ring_rows(self) -> int:
        """Rows stored: the KH an output row reads plus the STRIDE the next one adds."""
        return min(self.kernel[0] + self.strides[0], self.height)

    @property
    def storage_words(self) -> int:
        """Ring depth in beats (``lanes`` codes each)."""
        return self.ring_rows * self.width * (self.channels // self.lanes)

    @property
    def storage_codes(self) -> int:
        return self.ring_rows * self.width * self.channels

    def parameters(self) -> dict[str, object]:
        kh, kw = self.kernel
        return {
            "BITS": self.bits,
            "C": self.channels,
            "H": self.height,
            "W": self.width,
            "LANES": self.lanes,
            "KH": kh,
            "KW": kw,
            **geometry_parameters(self.strides, self.pads),
            **({"GROUPS": self.groups} if self.groups > 1 else {}),
        }

    def schedule(self, frames: int = 1) -> tuple[list[int], list[int]]:
        """af_linewin's row schedule, input always valid and output always ready.

        Returns the cycle of the last beat of every input row (global rows, frame after
        frame) and the cycle in which every output row's last beat enters the output
        slice, cycle 0 being the first input transfer. With ``IB = W·C/LANES`` beats an
        input row, ``NB = OW·KH·KW·C/LANES`` an output row, ring ``R`` rows, output row
        ``k`` reading global rows ``[rel_k, need_k)`` (``rel_k = f·H + max(0, lo)``,
        ``need_k = f·H + min(H, lo + KH)``, ``lo = oy·STRIDE_H − PAD_T``) and
        ``rel_K = frames·H`` after the last one:

        * input row ``G`` starts at ``max(in_end[G−1] + 1, out_end[j−1] + 1)``, ``j`` the
          first output row with ``rel_j + R > G`` (its slot's old row is released; the
          term is absent for ``j = 0``), and ends ``IB − 1`` cycles later;
        * output row ``k`` starts at ``max(out_end[k−1] + 1, in_end[need_k − 1] + 1)``
          and ends ``NB − 1`` cycles later.
        """
        if frames < 1:
            raise ConfigError(f"frames must be positive, got {frames}")
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        h, r, cg = self.height, self.ring_rows, self.channels // self.lanes
        ib, nb = self.width * cg, ow * kh * kw * cg
        rel, need = [], []
        for f in range(frames):
            for oy in range(oh):
                lo = oy * self.strides[0] - self.pads[0]
                rel.append(f * h + max(0, lo))
                need.append(f * h + min(h, lo + kh))
        rel.append(frames * h)
        rows, outs = frames * h, len(need)
        in_end: list[int] = []
        out_end: list[int] = []
        j = 0  # first output row whose rel admits the next input row (rel only grows)
        while len(in_end) < rows or len(out_end) < outs:
            g = len(in_end)
            if g < rows:
                while rel[j] + r <= g:
                    j += 1
                if j <= len(out_end):  # the release it waits for is known
                    start = max(in_end[-1] + 1 if g else 0, out_end[j - 1] + 1 if j else 0)
                    in_end.append(start + ib - 1)
                    continue
            k = len(out_end)
            # need_k <= rel_k + R, so the rows are always writable: no deadlock.
            assert need[k] <= len(in_end), "af_linewin schedule deadlock"
            start = max(out_end[-1] + 1 if k else 0, in_end[need[k] - 1] + 1)
            out_end.append(start + nb - 1)
        return in_end, out_end

    def cycles(self, frames: int = 1) -> int:
        """First input transfer to last output transfer, both included (``schedule``)."""
        _, out_end = self.schedule(frames)
        return out_end[-1] + LINEWIN_LATENCY

    def last_input_cycle(self, frames: int = 1) -> int:
        """Cycle of the last input transfer (stride leftovers may come after the output)."""
        in_end, _ = self.schedule(frames)
        return in_end[-1]

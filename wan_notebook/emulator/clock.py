"""The simulated clock: wall time scaled by a speed factor that may change while running."""

from __future__ import annotations

import threading
import time


class SimClock:
    """Simulated seconds since start; ``speed`` simulated seconds pass per wall second.

    Changing the speed rebases the clock so simulated time never jumps.
    """

    def __init__(self, speed: float, offset: float = 0.0) -> None:
        _check_speed(speed)
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or offset != offset:
            raise ValueError(f"clock offset must be a number of seconds, got {offset!r}")
        #: seconds the service's wall clock runs ahead (negative: behind) of this machine's;
        #: shows in ``Date`` headers, task times and list filters, to test clients whose clock
        #: is wrong (the machine clock itself cannot be changed in a test)
        self.offset = float(offset)
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._mono0 = time.monotonic()
        self._sim0 = 0.0

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return self._speed

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        with self._lock:
            return self._sim0 + (time.monotonic() - self._mono0) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on."""
        _check_speed(speed)
        with self._lock:
            mono = time.monotonic()
            self._sim0 += (mono - self._mono0) * self._speed
            self._mono0 = mono
            self._speed = float(speed)

    def wall_delay(self, sim_seconds: float) -> float:
        """How many wall seconds ``sim_seconds`` of simulated time take at the current speed."""
        return sim_seconds / self._speed

    def wall(self) -> float:
        """The service's wall clock (epoch seconds): this machine's plus :attr:`offset`."""
        return time.time() + self.offset

    def wall_time_of(self, sim_t: float) -> float:
        """The service's epoch time (:meth:`wall`) at which simulated instant ``sim_t`` happens."""
        return self.wall() - (self.now() - sim_t) / self._speed


def _check_speed(speed: float) -> None:
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed > 0:
        raise ValueError(f"speed must be a positive number, got {speed!r}")
    if speed == float("inf"):
        raise ValueError("speed must be finite")

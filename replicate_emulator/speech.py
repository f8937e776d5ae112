"""Real speech for the emulated text-to-speech model: eSpeak NG, from the ``espeakng-loader`` wheel.

That wheel ships ``libespeak-ng`` *and* its voice data, so speech works offline right after
``pip install`` (no system package). It offers only a loader, and no maintained PyPI package
drives the library's synthesis API, so the few ctypes calls are written here. The library keeps
global state, so each synthesis runs in its own process::

    python -m replicate_emulator.speech --voice en-us+f3 --wpm 175 --text-file in.txt --out out.wav

which also makes a canceled prediction's synthesis killable like its ffmpeg renders.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import wave
from pathlib import Path

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1


def available() -> bool:
    """Whether the wheel is installed and its library loads on this platform."""
    try:
        import espeakng_loader

        ctypes.CDLL(espeakng_loader.get_library_path())
        espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def synthesize(text: str, voice: str, words_per_minute: int, out: Path) -> float:
    """Speak ``text`` into a 16-bit mono WAV at the library's rate (22.05 kHz); returns seconds."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    data_parent = Path(espeakng_loader.get_data_path()).parent  # the folder holding espeak-ng-data
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_parent).encode(), 0)
    if rate <= 0:
        raise RuntimeError("espeak-ng could not initialise")
    chunks: list[bytes] = []

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    def on_samples(samples: ctypes._Pointer[ctypes.c_short], count: int, events: object) -> int:
        if samples and count > 0:
            chunks.append(ctypes.string_at(samples, count * 2))
        return 0

    lib.espeak_SetSynthCallback(on_samples)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {voice!r}")
    lib.espeak_SetParameter(ESPEAK_RATE, words_per_minute, 0)
    encoded = text.encode("utf-8")
    if lib.espeak_Synth(encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None) != 0:
        raise RuntimeError("espeak-ng could not synthesise the text")
    lib.espeak_Synchronize()
    pcm = b"".join(chunks)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return len(pcm) / 2 / rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replicate_emulator.speech")
    parser.add_argument("--voice", required=True)
    parser.add_argument("--wpm", type=int, required=True)
    parser.add_argument("--text-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        seconds = synthesize(args.text_file.read_text(encoding="utf-8"), args.voice, args.wpm, args.out)
    except RuntimeError as error:
        print(f"speech: {error}", file=sys.stderr)
        return 1
    print(f"{seconds:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

//! Call progress without I/O: answering-machine detection (Asterisk app_amd's method), beep detection, and tones on early media (ringback, busy, SIT) with Goertzel filters.

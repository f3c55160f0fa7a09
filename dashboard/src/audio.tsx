// Playground audio: a microphone button (MediaRecorder -> /v1/audio/transcriptions, the
// text goes into the message box) and a Play button per answer (/v1/audio/speech).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, blob, message } from "./api";

/** Transcription and speech models, as `docs/audio.md` lists them (aliases served by any
 * Hearth with its bundled Whisper and Piper voice). */
export const TRANSCRIBE_MODEL = "whisper-1";
export const SPEECH_MODEL = "tts-1";

/** Records from the microphone until pressed again, then sends the recording for
 * transcription and hands its text to `onText`. */
export function MicButton({ onText, disabled }: { onText: (text: string) => void; disabled?: boolean }) {
  const [state, setState] = useState<"idle" | "recording" | "transcribing">("idle");
  const [error, setError] = useState("");
  const recorder = useRef<MediaRecorder | null>(null);
  useEffect(() => () => recorder.current?.stream.getTracks().forEach((t) => t.stop()), []);
  const start = async () => {
    setError("");
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
      setError("This browser cannot record audio here (a microphone needs HTTPS or localhost).");
      return;
    }
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      setError(`No microphone: ${message(e)}`);
      return;
    }
    const rec = new MediaRecorder(media);
    const chunks: Blob[] = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = async () => {
      media.getTracks().forEach((t) => t.stop());
      recorder.current = null;
      setState("transcribing");
      try {
        const type = rec.mimeType || "audio/webm";
        const form = new FormData();
        form.append("file", new Blob(chunks, { type }), `recording.${type.includes("ogg") ? "ogg" : "webm"}`);
        form.append("model", TRANSCRIBE_MODEL);
        const out = await api<{ text: string }>("/v1/audio/transcriptions", { form });
        if (out.text.trim()) onText(out.text.trim());
        else setError("Nothing was heard in the recording.");
      } catch (e) {
        setError(`Transcription failed: ${message(e)}`);
      } finally {
        setState("idle");
      }
    };
    recorder.current = rec;
    rec.start();
    setState("recording");
  };
  const label = { idle: "Record", recording: "Stop recording", transcribing: "Transcribing…" }[state];
  return (
    <>
      <button
        type="button"
        disabled={disabled || state === "transcribing"}
        onClick={() => (state === "recording" ? recorder.current?.stop() : void start())}
        title="Speak a message: it is transcribed into the message box"
      >
        <span aria-hidden="true">{state === "recording" ? "■ " : "● "}</span>
        {label}
      </button>
      <span class="muted" role="status">
        {state === "recording" ? "Recording… press again to stop." : ""}
      </span>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

/** Speaks `text` with `/v1/audio/speech`, in an <audio> element with controls. */
export function SpeakButton({ text, label }: { text: string; label: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const audio = useRef<HTMLAudioElement>(null);
  useEffect(() => () => void (src && URL.revokeObjectURL(src)), [src]);
  const speak = async () => {
    if (src) {
      void audio.current?.play();
      return;
    }
    setBusy(true);
    setError("");
    try {
      const wav = await blob("/v1/audio/speech", { json: { model: SPEECH_MODEL, voice: "alloy", input: text.slice(0, 4096), response_format: "wav" } });
      setSrc(URL.createObjectURL(wav));
    } catch (e) {
      setError(`Speech failed: ${message(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="speak">
      <button type="button" onClick={() => void speak()} disabled={busy || !text.trim()} aria-label={label}>
        {busy ? "Speaking…" : "▶ Play"}
      </button>
      {/* autoPlay: the press that made it asked to hear it */}
      {src && <audio ref={audio} src={src} controls autoPlay aria-label={`${label} audio`} />}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

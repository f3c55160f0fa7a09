// Hearth Realtime demo: the microphone AudioWorklet.
// Collects mono Float32 samples at `targetRate` (24 kHz) and posts them to the main
// thread in chunks of `chunkSamples` (100 ms). Where the AudioContext could not run at
// 24 kHz (Firefox refuses a microphone source in a context of another rate, so the page
// falls back to the device rate), it resamples by linear interpolation.
const SILENCE = new Float32Array(128);

class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 24000;
    this.chunk = new Float32Array(opts.chunkSamples || 2400);
    this.filled = 0;
    this.step = sampleRate / this.targetRate; // input samples per output sample
    this.pos = 0; // position of the next output sample in the current block
    this.last = 0; // the previous block's last sample (for interpolation across blocks)
  }

  push(value) {
    this.chunk[this.filled++] = value;
    if (this.filled === this.chunk.length) {
      const out = this.chunk;
      this.chunk = new Float32Array(out.length);
      this.port.postMessage(out, [out.buffer]); // transferred, not copied
      this.filled = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    // no channel: the track ended or is muted; carry on with silence like a muted mic
    const data = input && input.length ? input[0] : SILENCE;
    if (this.step === 1) {
      for (let i = 0; i < data.length; i++) this.push(data[i]);
      return true;
    }
    // sample i of this block is at position i, the previous block's last one at -1
    const n = data.length;
    while (this.pos < n - 1) {
      const j = Math.floor(this.pos);
      const a = j < 0 ? this.last : data[j];
      this.push(a + (data[j + 1] - a) * (this.pos - j));
      this.pos += this.step;
    }
    this.pos -= n;
    this.last = data[data.length - 1];
    return true;
  }
}

registerProcessor("hearth-mic", MicProcessor);

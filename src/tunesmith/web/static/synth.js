"use strict";
// tunesmith's in-browser synthesizer: reads a Standard MIDI File and renders its notes with WebAudio
// oscillators (offline, faster than real time) into a WAV the page's <audio> element plays.
// It needs no soundfont and no network: audio works where the server cannot render WAV.

const TunesmithSynth = (() => {
  const MAX_NOTES = 20000;
  const MAX_SECONDS = 900;

  // A MIDI file -> [{pitch, start, end, velocity}] in seconds (drum channel 10 left out).
  function readMidi(buffer) {
    const data = new DataView(buffer);
    let pos = 0;
    const need = (n) => { if (pos + n > data.byteLength) throw new Error("the MIDI file is cut short"); };
    const u8 = () => { need(1); return data.getUint8(pos++); };
    const u16 = () => { need(2); const v = data.getUint16(pos); pos += 2; return v; };
    const u32 = () => { need(4); const v = data.getUint32(pos); pos += 4; return v; };
    const tag = () => String.fromCharCode(u8(), u8(), u8(), u8());
    const varlen = () => {
      let value = 0;
      for (let i = 0; i < 4; i++) {
        const b = u8();
        value = (value << 7) | (b & 0x7f);
        if (!(b & 0x80)) return value;
      }
      throw new Error("the MIDI file has a broken number");
    };

    if (tag() !== "MThd") throw new Error("not a MIDI file");
    const headerLength = u32();
    u16();                          // format: every track is read, whatever it is
    const trackCount = u16();
    const division = u16();
    if (division & 0x8000) throw new Error("MIDI files timed in SMPTE frames are not supported");
    pos = 8 + headerLength;

    const found = [];
    const tempos = [];              // {tick, us}: microseconds per quarter from that tick
    for (let t = 0; t < trackCount && pos + 8 <= data.byteLength; t++) {
      const id = tag();
      const length = u32();
      const end = Math.min(pos + length, data.byteLength);
      if (id !== "MTrk") { pos = end; continue; }
      let tick = 0;
      let status = 0;
      const open = new Map();
      while (pos < end) {
        tick += varlen();
        const first = u8();
        if (first === 0xff) {                       // meta event
          const type = u8();
          const len = varlen();
          if (type === 0x51 && len === 3) {
            need(3);
            tempos.push({tick, us: (data.getUint8(pos) << 16) | (data.getUint8(pos + 1) << 8) | data.getUint8(pos + 2)});
          }
          pos += len;
          if (type === 0x2f) break;                 // end of track
          continue;
        }
        if (first === 0xf0 || first === 0xf7) { pos += varlen(); continue; }   // system exclusive
        if (first & 0x80) status = first; else pos--;                           // running status
        const kind = status & 0xf0;
        const channel = status & 0x0f;
        if (kind === 0xc0 || kind === 0xd0) { u8(); continue; }
        const a = u8();
        const b = u8();
        const key = channel * 128 + a;
        if (kind === 0x90 && b > 0) {
          if (!open.has(key)) open.set(key, []);
          open.get(key).push({tick, velocity: b});
        } else if (kind === 0x80 || kind === 0x90) {
          const started = open.get(key);
          if (started && started.length) {
            const s = started.shift();
            found.push({pitch: a, channel, start: s.tick, end: tick, velocity: s.velocity});
          }
        }
      }
      pos = end;
    }
    tempos.sort((x, y) => x.tick - y.tick);
    const seconds = (tick) => {
      let total = 0, last = 0, us = 500000;
      for (const change of tempos) {
        if (change.tick >= tick) break;
        total += (change.tick - last) * us / division / 1e6;
        last = change.tick;
        us = change.us;
      }
      return total + (tick - last) * us / division / 1e6;
    };
    return found.filter((n) => n.channel !== 9).map((n) => ({
      pitch: n.pitch, start: seconds(n.start), end: seconds(n.end), velocity: n.velocity / 127,
    }));
  }

  // notes -> an AudioBuffer: a triangle wave and a soft octave above it, shaped by an envelope per note
  async function render(notes, rate = 22050) {
    const played = notes.slice(0, MAX_NOTES).filter((n) => n.start < MAX_SECONDS);
    if (!played.length) throw new Error("the piece has no notes to play");
    const length = Math.min(played.reduce((m, n) => Math.max(m, n.end), 0) + 1.0, MAX_SECONDS);
    const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    if (!Offline) throw new Error("this browser has no WebAudio");
    const ctx = new Offline(1, Math.ceil(length * rate), rate);
    const master = ctx.createGain();
    master.gain.value = 0.25;
    master.connect(ctx.destination);
    for (const n of played) {
      const start = n.start;
      const stop = Math.min(start + Math.max(n.end - n.start, 0.06), length - 0.3);
      if (stop <= start) continue;
      const frequency = 440 * Math.pow(2, (n.pitch - 69) / 12);
      const peak = 0.25 + 0.5 * n.velocity;
      const env = ctx.createGain();
      env.gain.setValueAtTime(0, start);
      env.gain.linearRampToValueAtTime(peak, start + 0.012);
      env.gain.setTargetAtTime(peak * 0.45, start + 0.012, 0.18);
      env.gain.setTargetAtTime(0, stop, 0.05);
      env.connect(master);
      const body = ctx.createOscillator();
      body.type = "triangle";
      body.frequency.value = frequency;
      body.connect(env);
      const shine = ctx.createOscillator();
      shine.type = "sine";
      shine.frequency.value = frequency * 2;
      const shineGain = ctx.createGain();
      shineGain.gain.value = 0.18;
      shine.connect(shineGain).connect(env);
      for (const osc of [body, shine]) {
        osc.start(start);
        osc.stop(stop + 0.3);
      }
    }
    return ctx.startRendering();
  }

  // an AudioBuffer -> a 16-bit PCM WAV Blob, its loudest sample at 90% of full scale
  function wav(buffer) {
    const samples = buffer.getChannelData(0);
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
    const gain = peak > 0 ? 0.9 / peak : 1;
    const bytes = new ArrayBuffer(44 + samples.length * 2);
    const out = new DataView(bytes);
    const text = (at, s) => { for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i)); };
    text(0, "RIFF");
    out.setUint32(4, 36 + samples.length * 2, true);
    text(8, "WAVE");
    text(12, "fmt ");
    out.setUint32(16, 16, true);
    out.setUint16(20, 1, true);                       // PCM
    out.setUint16(22, 1, true);                       // mono
    out.setUint32(24, buffer.sampleRate, true);
    out.setUint32(28, buffer.sampleRate * 2, true);
    out.setUint16(32, 2, true);
    out.setUint16(34, 16, true);
    text(36, "data");
    out.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const v = Math.max(-1, Math.min(1, samples[i] * gain));
      out.setInt16(44 + i * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
    return new Blob([bytes], {type: "audio/wav"});
  }

  async function midiToWav(buffer) {
    return wav(await render(readMidi(buffer)));
  }

  return {readMidi, render, wav, midiToWav};
})();

window.TunesmithSynth = TunesmithSynth;

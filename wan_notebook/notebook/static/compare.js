// Synchronized video players in a grid (wan-notebook compare()).
// Model: videos = [{label, mime}], blobs = [bytes...], fps, cols.
// One transport for all players: play, pause, seek and frame steps apply to every video;
// while playing, any player that drifts more than one frame from the first is pulled back.
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wan-compare";
  const grid = document.createElement("div");
  grid.style.display = "grid";
  grid.style.gridTemplateColumns = `repeat(${model.get("cols")}, minmax(0, 1fr))`;
  grid.style.gap = "6px";
  const players = [];
  const urls = [];
  const infos = model.get("videos");
  const blobs = model.get("blobs");
  infos.forEach((info, i) => {
    const cell = document.createElement("figure");
    cell.style.margin = "0";
    const video = document.createElement("video");
    const data = blobs[i];
    const url = URL.createObjectURL(new Blob([data.buffer ? data.buffer : data], { type: info.mime }));
    urls.push(url);
    video.src = url;
    video.muted = true;
    video.preload = "auto";
    video.playsInline = true;
    video.style.width = "100%";
    video.dataset.index = String(i);
    const caption = document.createElement("figcaption");
    caption.textContent = info.label; // text, never markup
    caption.style.font = "12px sans-serif";
    cell.append(video, caption);
    grid.append(cell);
    players.push(video);
  });
  const fps = model.get("fps") || 16;
  const frame = 1 / fps;
  const bar = document.createElement("div");
  bar.style.display = "flex";
  bar.style.gap = "6px";
  bar.style.alignItems = "center";
  bar.style.marginTop = "6px";
  const button = (text, title, onClick) => {
    const b = document.createElement("button");
    b.textContent = text;
    b.title = title;
    b.className = "wan-compare-" + title.split(" ")[0].toLowerCase();
    b.addEventListener("click", onClick);
    bar.append(b);
    return b;
  };
  const lead = players[0];
  const duration = () => Math.min(...players.map((p) => (isFinite(p.duration) ? p.duration : 0)));
  const seek = (t) => {
    const end = duration();
    const to = Math.max(0, end ? Math.min(t, end) : t);
    players.forEach((p) => { p.currentTime = to; });
    slider.value = String(to);
  };
  button("⏮", "step back one frame", () => { pause(); seek(lead.currentTime - frame); });
  const playButton = button("▶", "play all", () => (lead.paused ? play() : pause()));
  button("⏭", "step forward one frame", () => { pause(); seek(lead.currentTime + frame); });
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.step = String(frame / 4);
  slider.value = "0";
  slider.className = "wan-compare-seek";
  slider.style.flex = "1";
  slider.addEventListener("input", () => { pause(); seek(Number(slider.value)); });
  bar.append(slider);
  const clock = document.createElement("span");
  clock.style.font = "12px monospace";
  bar.append(clock);
  const play = () => {
    const t = lead.currentTime;
    players.forEach((p) => { p.currentTime = t; p.play(); });
    playButton.textContent = "⏸";
  };
  const pause = () => {
    players.forEach((p) => p.pause());
    const t = lead.currentTime;
    players.forEach((p) => { p.currentTime = t; });
    playButton.textContent = "▶";
  };
  // the shortest duration bounds the slider: known only once every player has its metadata
  players.forEach((p) => p.addEventListener("loadedmetadata", () => { slider.max = String(duration()); }));
  lead.addEventListener("timeupdate", () => {
    slider.value = String(lead.currentTime);
    clock.textContent = `${lead.currentTime.toFixed(2)} s · frame ${Math.round(lead.currentTime * fps)}`;
    if (!lead.paused) {
      players.forEach((p) => { if (Math.abs(p.currentTime - lead.currentTime) > frame) p.currentTime = lead.currentTime; });
    }
  });
  lead.addEventListener("ended", () => { pause(); });
  // for tests and scripts: el.wanCompare.seek(t), .play(), .pause(), .players
  el.wanCompare = { seek, play, pause, players };
  root.append(grid, bar);
  el.append(root);
  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}
export default { render };

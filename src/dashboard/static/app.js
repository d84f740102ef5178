// The dashboard's page: preact components written with htm, so the browser runs this file as it
// is. Everything live arrives on one server-sent event stream per view; nothing polls.
import { html, render, useEffect, useRef, useState } from "/vendor/preact-htm.js";
import uPlot from "/vendor/uplot.js";

const route = () => {
  const [namespace = "", name] = location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .map(decodeURIComponent);
  return { namespace, name };
};

/** The view's stream: the Rollouts (and with a name, its Events) as the server's watches see them. */
function useStream(namespace, name) {
  const [state, setState] = useState({ rollouts: undefined, events: [], failure: undefined });
  useEffect(() => {
    const query = new URLSearchParams({ namespace, ...(name ? { name } : {}) });
    const source = new EventSource(`/api/stream?${query}`);
    const on = (event, key) =>
      source.addEventListener(event, (e) => setState((s) => ({ ...s, [key]: JSON.parse(e.data) })));
    on("rollouts", "rollouts");
    on("events", "events");
    on("failure", "failure");
    return () => source.close();
  }, [namespace, name]);
  return state;
}

const age = (since) => {
  const s = Math.max(0, (Date.now() - Date.parse(since)) / 1000);
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
};

const step = (st) =>
  st?.currentStepIndex === undefined
    ? "-"
    : `${Math.min(st.currentStepIndex + 1, st.stepCount)}/${st.stepCount}`;

const Bar = ({ weight = 0 }) =>
  html`<span class="bar" data-weight=${weight}><span style=${`width:${weight}%`}></span></span> ${weight}%`;

function List({ namespace }) {
  const { rollouts, failure } = useStream(namespace);
  const [filter, setFilter] = useState(namespace);
  return html`
    <header>
      <h1>Rollouts</h1>
      <form onSubmit=${(e) => {
        e.preventDefault();
        location.hash = `#/${encodeURIComponent(filter)}`;
      }}>
        <input placeholder="all namespaces" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
        <button>filter</button>
      </form>
    </header>
    ${failure && html`<p class="error">${failure.message}</p>`}
    <table>
      <tr><th>Namespace</th><th>Name</th><th>Phase</th><th>Step</th><th>Weight</th><th>Age</th></tr>
      ${(rollouts ?? []).map(
        (r) => html`<tr data-rollout=${r.metadata.name}>
          <td>${r.metadata.namespace}</td>
          <td><a href=${`#/${r.metadata.namespace}/${r.metadata.name}`}>${r.metadata.name}</a></td>
          <td class=${`phase-${r.status?.phase}`}>${r.status?.phase ?? "-"}</td>
          <td>${step(r.status)}</td>
          <td><${Bar} weight=${r.status?.canaryWeight} /></td>
          <td>${r.metadata.creationTimestamp ? age(r.metadata.creationTimestamp) : "-"}</td>
        </tr>`,
      )}
    </table>
    ${rollouts?.length === 0 && html`<p class="muted">No rollouts${namespace ? ` in ${namespace}` : ""}.</p>`}`;
}

/** A uPlot chart redrawn with each new data; `points` says how many x values it draws, for the tests. */
function Chart({ options, data, label }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    plot.current = new uPlot({ width: 1000, height: 220, ...options }, data, box.current);
    return () => plot.current.destroy();
  }, [JSON.stringify(options.series.map((s) => s.label))]);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<div class="chart" data-chart=${label} data-points=${data[0].length} ref=${box}></div>`;
}

const seconds = (iso) => Date.parse(iso) / 1000;
const only = (entries, pick) => entries.map((e) => (pick(e) ? e.weight : null));

function WeightChart({ history }) {
  const data = [
    history.map((e) => seconds(e.at)),
    history.map((e) => e.weight),
    history.map((e, i) => (i > 0 && e.step !== history[i - 1].step ? e.weight : null)),
    only(history, (e) => e.pauses),
    only(history, (e) => e.checks),
  ];
  const marks = (label, stroke) => ({
    label,
    stroke,
    width: 0,
    points: { show: true, size: 9, fill: stroke },
  });
  const options = {
    title: "Canary weight",
    scales: { y: { range: [0, 100] } },
    series: [
      {},
      { label: "weight %", stroke: "#2f7de1", width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
      marks("step", "#6e7781"),
      marks("pause", "#d4a72c"),
      marks("check", "#1a7f37"),
    ],
  };
  return html`<${Chart} label="weight" options=${options} data=${data} />`;
}

function MetricChart({ metric, history }) {
  const checked = history.filter((e) => e.checks?.some((c) => c.name === metric.name));
  const value = (e) => e.checks.find((c) => c.name === metric.name).value ?? null;
  const { min, max } = metric.thresholdRange ?? {};
  const flat = (v) => checked.map(() => v ?? null);
  const data = [checked.map((e) => seconds(e.at)), checked.map(value), flat(min), flat(max)];
  const options = {
    title: metric.name,
    series: [
      {},
      { label: "value", stroke: "#2f7de1", width: 2 },
      { label: "min", stroke: "#cf222e", dash: [6, 4] },
      { label: "max", stroke: "#cf222e", dash: [6, 4] },
    ],
    bands:
      min !== undefined && max !== undefined
        ? [{ series: [3, 2], fill: "rgba(26,127,55,0.08)" }]
        : [],
  };
  return html`<${Chart} label=${`metric-${metric.name}`} options=${options} data=${data} />`;
}

const BUTTONS = [
  ["pause", "pause"],
  ["resume", "resume"],
  ["promote", "promote"],
  ["promoteFull", "promote --full"],
  ["abort", "abort"],
  ["retry", "retry"],
];

function Buttons({ namespace, name }) {
  const [said, setSaid] = useState("");
  const press = async (command) => {
    if (
      command === "abort" &&
      !confirm(`Abort ${namespace}/${name}? Traffic goes back to the stable revision.`)
    )
      return;
    const res = await fetch(
      `/api/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${command}`,
      {
        method: "POST",
        headers: { "x-fledge-dashboard": "1" },
      },
    );
    const body = await res.json();
    setSaid(res.ok ? body.done.join("; ") : body.error);
  };
  return html`<p class="buttons">
    ${BUTTONS.map(([c, label]) => html`<button class=${c === "abort" ? "danger" : ""} data-command=${c} onClick=${() => press(c)}>${label}</button>`)}
    <span class="muted">${said}</span>
  </p>`;
}

function Rollout({ namespace, name }) {
  const { rollouts, events, failure } = useStream(namespace, name);
  const rollout = rollouts?.[0];
  const st = rollout?.status ?? {};
  // The timeline of the revision in progress (or last rolled out): earlier ones are other stories.
  const history = (st.history ?? []).filter((e) => e.revision === st.canaryRevision);
  const metrics = (rollout?.spec?.analysis?.metrics ?? []).filter((m) => m.thresholdRange);
  return html`
    <p><a href=${`#/${namespace}`}>← rollouts in ${namespace}</a></p>
    <h1>${namespace}/${name}</h1>
    ${failure && html`<p class="error">${failure.message}</p>`}
    ${rollouts && !rollout && html`<p class="error">No rollout ${name} in ${namespace}.</p>`}
    ${
      rollout &&
      html`
      <p>
        <strong class=${`phase-${st.phase}`} data-phase=${st.phase}>${st.phase}</strong>
        · step ${step(st)} · <${Bar} weight=${st.canaryWeight} />
        · stable ${st.stableRevision ?? "-"}, canary ${st.canaryRevision ?? "-"}
      </p>
      <p class="muted">${st.message}</p>
      <${Buttons} namespace=${namespace} name=${name} />
      <${WeightChart} history=${history} />
      ${metrics.map((m) => html`<${MetricChart} key=${m.name} metric=${m} history=${history} />`)}
      <h2>Conditions</h2>
      <table>
        <tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr>
        ${(st.conditions ?? []).map(
          (c) =>
            html`<tr><td>${c.type}</td><td>${c.status}</td><td>${c.reason}</td><td>${c.message}</td><td>${age(c.lastTransitionTime)}</td></tr>`,
        )}
      </table>
      <h2>Events</h2>
      <table>
        <tr><th>Type</th><th>Reason</th><th>Age</th><th>Message</th></tr>
        ${[...events]
          .reverse()
          .map(
            (e) =>
              html`<tr><td>${e.type}</td><td>${e.reason}</td><td>${age(e.lastTimestamp ?? e.eventTime)}</td><td>${e.message}</td></tr>`,
          )}
      </table>`
    }`;
}

function App() {
  const [where, setWhere] = useState(route());
  useEffect(() => {
    const moved = () => setWhere(route());
    addEventListener("hashchange", moved);
    return () => removeEventListener("hashchange", moved);
  }, []);
  return where.name
    ? html`<${Rollout} key=${location.hash} namespace=${where.namespace} name=${where.name} />`
    : html`<${List} key=${location.hash} namespace=${where.namespace} />`;
}

render(html`<${App} />`, document.getElementById("app"));

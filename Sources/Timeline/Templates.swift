import Mustache

/// The pages, as Mustache templates compiled into the binary (nothing to install beside it).
/// `{{name}}` is HTML-escaped by Mustache; the only unescaped value is `{{{body}}}`, which is a
/// page these templates rendered. Every value from an event also passes `VisibleText.escape`.
enum Templates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [
            ("layout", layout), ("login", login), ("timeline", timeline), ("detail", detail), ("workflows", workflows),
            ("session", session), ("dashboard", dashboard), ("message", message),
        ] {
            try! library.register(text, named: name)
        }
        return library
    }()

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · governance-collector</title>
        <link rel="stylesheet" href="/static/app.css">
        <script src="/static/app.js" defer></script>
        </head>
        <body>
        {{#nav}}
        <nav>
          <span class="brand">governance-collector</span>
          <a id="nav-dashboard" href="/">Dashboard</a>
          <a id="nav-timeline" href="/timeline">Timeline</a>
          <a id="nav-workflows" href="/workflows">Workflows &amp; tokens</a>
          {{#signedIn}}<form id="logout" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>Sign out</button></form>{{/signedIn}}
        </nav>
        {{/nav}}
        <main>
        {{{body}}}
        </main>
        </body>
        </html>
        """

    static let login = """
        <section class="login">
        <h1>Sign in</h1>
        {{#error}}<p id="login-error" class="problem">{{error}}</p>{{/error}}
        <form id="login" method="post" action="/login">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>Admin password or token <input id="password" name="password" type="password" autocomplete="current-password" required autofocus></label>
          <button id="login-submit">Sign in</button>
        </form>
        </section>
        """

    static let timeline = """
        <h1>Timeline</h1>
        {{#problems}}<p class="problem">{{.}}</p>{{/problems}}
        <form id="filters" method="get" action="/timeline">
          <label>Workflow <select name="workflow"><option value="">all</option>{{#workflows}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/workflows}}</select></label>
          <label>Agent <input name="agent" value="{{agent}}" placeholder="exact id"></label>
          <label>Kind <input name="kind" value="{{kind}}" placeholder="tool.call or tool.*"></label>
          <label>Decision <select name="decision">{{#decisions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/decisions}}</select></label>
          <label>Model <input name="model" value="{{model}}" placeholder="exact"></label>
          <label>Session <input name="session" value="{{session}}" placeholder="UUID"></label>
          <label>Metadata <input name="meta" value="{{meta}}" placeholder="tool=sql, or a key"></label>
          <label>Search metadata <input name="q" value="{{q}}" placeholder="words in keys or values"></label>
          <label>From <input name="from" value="{{from}}" placeholder="2026-11-25T09:30Z"></label>
          <label>To <input name="to" value="{{to}}" placeholder="UTC, exclusive"></label>
          <button id="apply-filters">Apply</button>
          <a class="clear" href="/timeline">Clear</a>
        </form>
        <p class="ranges">Zoom: {{#ranges}}<a id="{{id}}" class="range" href="{{url}}">{{label}}</a> {{/ranges}}</p>
        <p class="status">{{count}} events on this page, newest first. <span id="live-status" class="live-{{liveState}}">{{liveText}}</span>
          <span class="exports">Export every event this filter selects: {{#exports}}<a id="export-{{format}}" href="{{url}}" download>{{label}}</a> {{/exports}}</span></p>
        <p class="legend"><span class="swatch d-allow"></span>allow <span class="swatch d-deny"></span>deny <span class="swatch d-none"></span>no decision · outline colour: kind family · one row per session</p>
        <svg id="timeline" viewBox="0 0 1000 {{height}}" width="100%" data-min="{{minT}}" data-max="{{maxT}}" role="img" aria-label="events by agent over time">
        {{#lanes}}
          <g class="lane" data-agent="{{agent}}" data-y="{{y}}" data-height="{{height}}">
            <rect class="lane-bg" x="0" y="{{y}}" width="1000" height="{{height}}"></rect>
            <text class="lane-label" x="6" y="{{labelY}}">{{agent}}</text>
            {{#sessions}}
            <g class="session" data-session="{{id}}" data-y="{{y}}">
              <line x1="{{x1}}" y1="{{y}}" x2="{{x2}}" y2="{{y}}"></line>
              {{#events}}<a href="/events/{{id}}"><circle class="event d-{{decision}} k{{kindClass}}" cx="{{x}}" cy="{{y}}" r="5" data-event-id="{{id}}" data-decision="{{decision}}" data-t="{{t}}"><title>{{kind}} · {{time}}</title></circle></a>{{/events}}
            </g>
            {{/sessions}}
          </g>
        {{/lanes}}
          <g class="axis" data-y="{{axisY}}">{{#ticks}}<text class="tick-{{anchor}}" x="{{x}}" y="{{y}}">{{label}}</text>{{/ticks}}</g>
        </svg>
        <p id="axis-caption" class="caption">{{caption}}</p>
        <table id="events">
          <thead><tr><th>Time (UTC)</th><th>Workflow</th><th>Agent</th><th>Kind</th><th>Decision</th><th>Session</th><th></th></tr></thead>
          <tbody data-live="{{live}}" data-stream="{{streamURL}}">
        {{#events}}
            <tr class="event-row" data-event-id="{{id}}"><td class="time">{{time}}</td><td class="workflow">{{workflow}}</td><td class="agent">{{agent}}</td><td class="kind"><span class="k{{kindClass}}">{{kind}}</span></td><td class="decision"><span class="badge d-{{decision}}">{{decision}}</span></td><td class="session" title="{{session}}"><a class="session-link" href="/sessions/{{session}}">{{sessionShort}}</a></td><td><a class="detail" href="/events/{{id}}">detail</a></td></tr>
        {{/events}}
          </tbody>
        </table>
        {{#empty}}<p class="empty">No events match.</p>{{/empty}}
        <p class="pager">{{#olderURL}}<a id="older" href="{{olderURL}}">Older events →</a>{{/olderURL}}</p>
        """

    static let detail = """
        <h1>Event <code>{{id}}</code></h1>
        <dl id="fields">
        {{#fields}}<dt>{{name}}</dt><dd data-field="{{name}}">{{value}}</dd>
        {{/fields}}
        </dl>
        <h2>Metadata <small>{{#redacted}}redacted view{{/redacted}}{{^redacted}}raw, as stored{{/redacted}}</small></h2>
        <p>{{#redacted}}<a id="show-raw" href="/events/{{id}}?view=raw">Show raw metadata</a>{{/redacted}}{{^redacted}}<a id="show-redacted" href="/events/{{id}}">Show redacted</a>{{/redacted}}</p>
        <pre id="metadata">{{metadata}}</pre>
        <h2>Chain</h2>
        <dl id="chain">
          <dt>position in session</dt><dd data-field="position">{{position}} of {{sessionLength}}</dd>
          <dt>chain_seq</dt><dd data-field="chain_seq">{{chainSeq}}</dd>
          <dt>prev_hash</dt><dd data-field="prev_hash">{{prevHash}}</dd>
          <dt>hmac</dt><dd data-field="hmac">{{hmac}}</dd>
        </dl>
        <form id="verify" method="post" action="/sessions/{{session}}/verify">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="event" value="{{id}}">
          <button id="verify-session">Verify this session's chain</button>
        </form>
        {{#verify}}<p id="verify-result" class="verify-{{state}}">{{text}}</p>{{/verify}}
        <p><a id="session-page" href="/sessions/{{session}}">This event's session</a> · <a href="/timeline?agent={{agentQuery}}">Timeline of this agent</a></p>
        """

    static let session = """
        <h1>Session <code>{{id}}</code></h1>
        <p class="status">{{totalText}}{{#truncated}} (the first {{count}} listed){{/truncated}} by {{agents}}, {{first}} to {{last}} (UTC) ·
          <a href="/timeline?{{timelineQuery}}">on the timeline</a></p>
        <form id="verify" method="post" action="/sessions/{{id}}/verify">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <button id="verify-session">Verify this session's chain</button>
        </form>
        {{#verify}}<p id="verify-result" class="verify-{{state}}">{{text}}</p>{{/verify}}
        <table id="session-events">
          <thead><tr><th>Event (tree by parent)</th><th>#</th><th>chain_seq</th><th>Time (UTC)</th><th>Agent</th><th>Decision</th><th>Signature</th></tr></thead>
          <tbody>
        {{#events}}
            <tr class="session-event" data-event-id="{{id}}" data-parent="{{parent}}" data-depth="{{depth}}"><td class="tree depth-{{depth}}">{{deeper}}<a href="/events/{{id}}"><span class="k{{kindClass}}">{{kind}}</span></a></td><td class="position">{{position}}</td><td class="chain-seq">{{chainSeq}}</td><td class="time">{{time}}</td><td class="agent">{{agent}}</td><td class="decision"><span class="badge d-{{decision}}">{{decision}}</span></td><td class="signature">{{signature}}</td></tr>
        {{/events}}
          </tbody>
        </table>
        """

    static let workflows = """
        <h1>Workflows</h1>
        <table id="workflows">
          <thead><tr><th>Workflow</th><th>Events</th><th>Last event received</th></tr></thead>
          <tbody>
        {{#workflows}}
            <tr data-workflow="{{name}}"><td class="name"><a href="/timeline?workflow={{query}}">{{name}}</a></td><td class="count">{{events}}</td><td class="last-seen">{{lastSeen}}</td></tr>
        {{/workflows}}
          </tbody>
        </table>
        <h2>Issue a token</h2>
        {{#error}}<p id="token-error" class="problem">{{error}}</p>{{/error}}
        {{#newToken}}
        <div class="new-token">
          <p>Token for <b>{{workflow}}</b> (fingerprint {{fingerprint}}). It is shown this once and stored only as a SHA-256 digest: copy it now.</p>
          <code id="new-token">{{token}}</code>
        </div>
        {{/newToken}}
        <form id="create-token" method="post" action="/workflows/tokens">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>Workflow <input name="workflow" required maxlength="128" placeholder="billing-agents-prod"></label>
          <button id="create-token-submit">Create workflow and issue token</button>
        </form>
        <h2>Tokens issued here</h2>
        <table id="tokens">
          <thead><tr><th>Fingerprint</th><th>Workflow</th><th>Issued</th><th>Status</th><th></th></tr></thead>
          <tbody>
        {{#tokens}}
            <tr class="token" data-fingerprint="{{fingerprint}}"><td class="fingerprint"><code>{{fingerprint}}</code></td><td class="workflow">{{workflow}}</td><td class="created">{{created}}</td><td class="status">{{status}}</td>
              <td>{{#active}}<form class="revoke" method="post" action="/tokens/{{fingerprint}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button class="revoke">Revoke</button></form>{{/active}}</td></tr>
        {{/tokens}}
          </tbody>
        </table>
        <p class="note">Tokens in the YAML file are not listed here and keep working; a revoked token is refused by ingest at once on this collector and within a second on others sharing the database.</p>
        <h2>Agent keys</h2>
        <p class="note">Agents' Ed25519 public keys in the reference SDK's registry (governance_agent_keys), which agent_signatures processors reload every keys_refresh_interval: an event signed with a registered key is stored as signed, with a revoked one as revoked_key.</p>
        {{#keyError}}<p id="agent-key-error" class="problem">{{keyError}}</p>{{/keyError}}
        <form id="add-agent-key" method="post" action="/agent-keys">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>Agent <input name="agent" required maxlength="256" placeholder="governance.default"></label>
          <label>Public key (PEM) <textarea name="pem" required rows="4" cols="64" placeholder="-----BEGIN PUBLIC KEY-----"></textarea></label>
          <button id="add-agent-key-submit">Register key</button>
        </form>
        <table id="agent-keys">
          <thead><tr><th>Fingerprint</th><th>Agent</th><th>Active from chain_seq</th><th>Registered</th><th>Status</th><th></th></tr></thead>
          <tbody>
        {{#agentKeys}}
            <tr class="agent-key" data-fingerprint="{{fingerprint}}"><td class="fingerprint"><code>{{fingerprint}}</code></td><td class="agent">{{agent}}</td><td class="activated">{{activated}}</td><td class="created">{{created}}</td><td class="status">{{status}}{{#reason}} ({{reason}}){{/reason}}</td>
              <td>{{#active}}<form class="revoke-agent-key" method="post" action="/agent-keys/{{fingerprint}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><input name="reason" required maxlength="200" placeholder="reason"><button class="revoke">Revoke</button></form>{{/active}}</td></tr>
        {{/agentKeys}}
          </tbody>
        </table>
        """

    static let dashboard = """
        <h1>Dashboard <small>{{windowLabel}}</small></h1>
        <form id="dashboard-filters" method="get" action="/">
          <label>Window <select name="window">{{#windows}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/windows}}</select></label>
          <label>Workflow <select name="workflow"><option value="">all</option>{{#workflows}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/workflows}}</select></label>
          <button id="apply-dashboard">Show</button>
          <span class="ranges">{{#windows}}<a class="range{{#selected}} selected{{/selected}}" href="{{url}}">{{label}}</a> {{/windows}}</span>
        </form>
        <section id="dashboard" data-live="{{live}}" data-stream="{{streamURL}}" data-from="{{windowStart}}">
        <div class="tiles">
          <div class="tile"><span class="label">Events</span><span id="tile-total" class="value">{{total}}</span></div>
          <div class="tile"><span class="label">Allowed</span><span id="tile-allow" class="value d-allow">{{allow}}</span></div>
          <div class="tile"><span class="label">Denied</span><span id="tile-deny" class="value d-deny">{{deny}}</span></div>
          <div class="tile"><span class="label">No decision</span><span id="tile-none" class="value">{{none}}</span></div>
          <div class="tile"><span class="label">Denial rate</span><span id="tile-denial-rate" class="value">{{denialRate}}</span></div>
          <div class="tile"><span class="label">Events per minute</span><span id="tile-per-minute" class="value">{{perMinute}}</span></div>
        </div>
        <p class="status"><span id="live-status" class="live-off">{{liveText}}</span></p>
        <h2>Events by decision</h2>
        <svg id="events-chart" viewBox="0 0 1000 170" width="100%" role="img" aria-label="events per bucket by decision, peak {{peak}}">
          {{#bars}}<g class="bar" data-t="{{t}}"><title>{{title}}</title>{{#segments}}<rect class="d-{{decision}}" x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}" data-count="{{count}}"></rect>{{/segments}}</g>{{/bars}}
          <g class="axis">{{#ticks}}<text class="tick-{{anchor}}" x="{{x}}" y="{{axisY}}">{{label}}</text>{{/ticks}}</g>
        </svg>
        <div class="columns">
        <div><h2>Top agents</h2>
        <table id="top-agents"><thead><tr><th>Agent</th><th>Events</th><th>Denied</th><th>Denial rate</th></tr></thead><tbody>
        {{#agents}}<tr data-agent="{{name}}"><td class="name"><a href="{{link}}">{{name}}</a></td><td class="events">{{events}}</td><td class="denied">{{denied}}</td><td class="rate">{{rate}}</td></tr>
        {{/agents}}</tbody></table></div>
        <div><h2>Top kinds</h2>
        <table id="top-kinds"><thead><tr><th>Kind</th><th>Events</th><th>Denied</th></tr></thead><tbody>
        {{#kinds}}<tr data-kind="{{name}}"><td class="name"><a href="{{link}}">{{name}}</a></td><td class="events">{{events}}</td><td class="denied">{{denied}}</td></tr>
        {{/kinds}}</tbody></table></div>
        <div><h2>Top tools <small>metadata.tool</small></h2>
        <table id="top-tools"><thead><tr><th>Tool</th><th>Events</th><th>Denied</th></tr></thead><tbody>
        {{#tools}}<tr data-tool="{{name}}"><td class="name"><a href="{{link}}">{{name}}</a></td><td class="events">{{events}}</td><td class="denied">{{denied}}</td></tr>
        {{/tools}}</tbody></table>{{^tools}}<p class="note">No event in this window has a metadata.tool.</p>{{/tools}}</div>
        </div>
        <h2>Model usage <small>the agent stacks' OpenTelemetry GenAI metrics, per service and model</small></h2>
        <table id="model-usage"><thead><tr><th>Service</th><th>Model</th><th>Calls</th><th>Mean duration</th><th>Input tokens</th><th>Output tokens</th></tr></thead><tbody>
        {{#modelUsage}}<tr data-service="{{service}}" data-model="{{model}}"><td class="service">{{service}}</td><td class="model">{{model}}</td><td class="calls">{{calls}}</td><td class="duration">{{duration}}</td><td class="input">{{input}}</td><td class="output">{{output}}</td></tr>
        {{/modelUsage}}</tbody></table>{{^modelUsage}}<p class="note">No GenAI metrics (gen_ai.client.token.usage, gen_ai.client.operation.duration) arrived in this window.</p>{{/modelUsage}}
        <h2>Cost per agent per day <small>the budget processor's spend, UTC days</small></h2>
        <table id="spend"><thead><tr><th>Day</th><th>Agent</th><th>Spent (USD)</th></tr></thead><tbody>
        {{#spend}}<tr><td>{{day}}</td><td class="agent">{{agent}}</td><td class="usd">{{usd}}</td></tr>
        {{/spend}}</tbody></table>{{^spend}}<p class="note">No spend recorded in this window (the budget processor records it).</p>{{/spend}}
        <h2>Budget alerts</h2>
        <table id="alerts"><thead><tr><th>Day</th><th>Agent</th><th>Cap</th><th>Webhook</th></tr></thead><tbody>
        {{#alerts}}<tr><td>{{day}}</td><td class="agent">{{agent}}</td><td class="cap">{{cap}}</td><td class="state">{{state}}</td></tr>
        {{/alerts}}</tbody></table>{{^alerts}}<p class="note">No cap was crossed in this window.</p>{{/alerts}}
        <h2>Delivery and evidence</h2>
        <table id="operations"><thead><tr><th>What</th><th>State</th></tr></thead><tbody>
        {{#health}}<tr data-check="{{name}}"><td>{{name}}</td><td class="state">{{state}}</td></tr>
        {{/health}}
        {{#bridges}}<tr data-bridge="{{target}}"><td>platform bridge → {{target}}</td><td class="state">last seq {{lastSeq}}, updated {{age}}</td></tr>
        {{/bridges}}
        {{#witnesses}}<tr data-witness="{{witness}}"><td>checkpoint witness {{witness}}</td><td class="state">delivered to size {{size}}, {{attempts}} failed attempts, last error {{error}}</td></tr>
        {{/witnesses}}
        {{#checkpoint}}<tr data-check="checkpoint"><td>latest signed checkpoint</td><td class="state">tree size {{size}}, {{age}}</td></tr>{{/checkpoint}}
          <tr data-check="rollup"><td>rows not yet in the rollup (counted from the table)</td><td class="state">{{unfolded}}</td></tr>
        </tbody></table>
        </section>
        """

    static let message = """
        <h1>{{title}}</h1>
        <p class="problem">{{text}}</p>
        <p><a href="/timeline">Back to the timeline</a></p>
        """
}

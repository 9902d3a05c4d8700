// The secure drop's page: the password opens the drop, then the chosen file is encrypted
// here with age to the drop's key (drop-vendor.js: typage) and sent over tus
// (tus-js-client), resuming after a cut or a server restart. Nothing in clear leaves the
// browser. No inline script (the CSP forbids it).
"use strict";
(function () {
  const fr = document.documentElement.lang !== "en";
  const T = fr
    ? {
        opening: "Ouverture…", closed: "Ce lien et ce mot de passe n'ouvrent pas de dépôt (mot de passe faux, ou dépôt inconnu, révoqué, expiré ou déjà utilisé). Cinq mots de passe faux révoquent le dépôt.",
        throttled: "Trop d'essais depuis cette adresse : réessayez dans 10 minutes.", pick: "Choisissez un fichier.",
        toolarge: "Ce fichier dépasse la taille maximale du dépôt.", sending: "Chiffrement et envoi", left: "reste",
        done: "Reçu : le fichier est arrivé chiffré et vérifié. Vous pouvez fermer cette page.",
        failed: "L'envoi a échoué : ", retry: "Connexion perdue, reprise…", network: "Erreur réseau : ",
      }
    : {
        opening: "Opening…", closed: "This link and password do not open a drop (a wrong password, or a drop unknown, revoked, expired or already used). Five wrong passwords revoke the drop.",
        throttled: "Too many attempts from this address: try again in 10 minutes.", pick: "Pick a file.",
        toolarge: "This file is larger than the drop takes.", sending: "Encrypting and sending", left: "left",
        done: "Received: the file arrived encrypted and checked. You may close this page.",
        failed: "The upload failed: ", retry: "Connection lost, resuming…", network: "Network error: ",
      };
  const $ = (id) => document.getElementById(id);
  const form = $("open");
  if (!form) return;
  let session = null;

  const size = (n) => {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + u[i];
  };
  const duration = (s) => {
    if (!isFinite(s) || s < 0) return "…";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + r + " s";
  };
  // The age file's exact size for one X25519 recipient: header, nonce, and a 16-byte tag
  // per 64 KiB chunk (at least one chunk).
  const ageSize = (n) => 184 + n + 16 * Math.max(1, Math.ceil(n / 65536));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("open-error");
    err.hidden = true;
    const status = form.querySelector("button");
    status.disabled = true;
    try {
      const res = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ password: $("password").value, receipt: $("receipt").value }),
        credentials: "omit",
      });
      if (!res.ok) {
        let detail = T.closed;
        if (res.status === 429) detail = T.throttled;
        else if (res.status === 400) detail = (await res.json().catch(() => ({}))).reason || T.closed;
        err.textContent = detail;
        err.hidden = false;
        return;
      }
      session = await res.json();
      $("d-to").textContent = session.to;
      $("d-client").textContent = session.client;
      $("d-expires").textContent = new Date(session.expires).toLocaleString(fr ? "fr-FR" : "en-GB");
      $("d-max").textContent = size(session.max_size);
      const base = location.origin;
      const auth = "  -H 'Tus-Resumable: 1.0.0' -H 'Authorization: Bearer " + session.upload_token + "' \\\n";
      $("commands").textContent =
        "age -r " + session.recipient + " -o fichier.age fichier\n" +
        "curl -X POST -T fichier.age " + base + "/tus \\\n" + auth +
        "  -H \"Upload-Length: $(stat -c %s fichier.age)\" -H 'Content-Type: application/offset+octet-stream'\n\n" +
        "# " + (fr ? "ou, d'un flux de longueur inconnue (puis un PATCH vide avec Upload-Length) :"
                    : "or, from a stream of unknown length (then an empty PATCH with Upload-Length):") + "\n" +
        "pg_dump moodle | age -r " + session.recipient + " | curl -X POST -T - " + base + "/tus \\\n" + auth +
        "  -H 'Upload-Defer-Length: 1' -H 'Content-Type: application/offset+octet-stream'";
      form.hidden = true;
      $("drop").hidden = false;
      $("file").focus();
    } catch (e) {
      err.textContent = T.network + e;
      err.hidden = false;
    } finally {
      status.disabled = false;
    }
  });

  $("send").addEventListener("click", () => {
    const file = $("file").files[0];
    const status = $("status");
    if (!file) { status.textContent = T.pick; return; }
    const total = ageSize(file.size);
    if (total > session.max_size) { status.textContent = T.toolarge; return; }
    $("send").disabled = true;
    $("file").disabled = true;
    const bar = $("bar");
    bar.hidden = false;
    const started = performance.now();
    const stream = gardienDrop.encryptStream(file.stream(), session.recipient);
    const upload = new gardienDrop.Upload(stream.getReader(), {
      endpoint: session.tus_endpoint,
      uploadSize: total,
      chunkSize: 8 * 1024 * 1024,
      headers: { Authorization: "Bearer " + session.upload_token },
      storeFingerprintForResuming: false,
      // A cut or a restart: HEAD, then resume from the server's offset.
      retryDelays: [0, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 20000, 30000, 30000, 60000, 60000],
      onShouldRetry: (e, attempt) => {
        status.textContent = T.retry;
        const s = e && e.originalResponse ? e.originalResponse.getStatus() : 0;
        return s === 0 || s >= 500 || s === 423 || s === 409;
      },
      onProgress: (sent, all) => {
        const pct = all ? (100 * sent) / all : 0;
        bar.value = pct;
        const secs = (performance.now() - started) / 1000;
        const rate = sent / Math.max(secs, 0.001);
        status.textContent = T.sending + " : " + pct.toFixed(1) + " % — " + size(sent) + " / " + size(all) +
          " — " + size(rate) + "/s — " + T.left + " " + duration((all - sent) / rate);
      },
      onSuccess: () => {
        bar.value = 100;
        status.textContent = T.done;
        document.body.dataset.dropDone = "1";
      },
      onError: (e) => {
        const body = e && e.originalResponse ? e.originalResponse.getBody() : "";
        status.textContent = T.failed + (body || String(e));
        document.body.dataset.dropFailed = "1";
        $("send").disabled = false;
        $("file").disabled = false;
      },
    });
    upload.start();
  });
})();

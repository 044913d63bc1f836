/**
 * The console's only script, and only an enhancement: every page works without it except the
 * upload of a CBE dump, which it sends as the raw file (the import streams it; no multipart) and
 * shows the upload's progress. Loaded from the deployment itself (CSP script-src 'self').
 */
function enhanceUpload(form: HTMLFormElement): void {
  const file = form.querySelector<HTMLInputElement>('input[type=file]');
  const progress = form.querySelector<HTMLProgressElement>('progress');
  const status = form.querySelector<HTMLElement>('[role=status]');
  const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
  if (!file || !progress || !status || !submit) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const data = new FormData(form);
    const field = (name: string) => {
      const value = data.get(name);
      return typeof value === 'string' ? value : '';
    };
    const query = new URLSearchParams({ reason: field('reason'), force: field('force') ? 'true' : 'false' });
    const request = new XMLHttpRequest();
    request.open('POST', `${form.action}?${query.toString()}`);
    request.setRequestHeader('Content-Type', 'application/octet-stream');
    request.setRequestHeader('X-CSRF-Token', field('_csrf'));
    request.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      progress.max = e.total;
      progress.value = e.loaded;
      status.textContent = e.loaded < e.total ? `Uploaded ${Math.floor((100 * e.loaded) / e.total)} %` : 'Uploaded; importing…';
    });
    const finish = () => {
      // The server put the outcome in the session's message, and names the page that shows it.
      window.location.assign(request.getResponseHeader('Location') ?? form.dataset.after ?? window.location.href);
    };
    request.addEventListener('load', finish);
    request.addEventListener('error', () => {
      status.textContent = 'The upload failed: the connection was lost.';
      submit.disabled = false;
    });
    submit.disabled = true;
    progress.hidden = false;
    status.textContent = 'Uploading…';
    request.send(chosen);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll<HTMLFormElement>('form[data-upload]').forEach(enhanceUpload);
});

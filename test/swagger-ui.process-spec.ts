import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, BrowserContext, chromium, Locator, Page } from 'playwright-core';
import { ServiceProcess, startService, waitFor200 } from './support/service-process';

/**
 * Swagger UI at /docs, driven in headless Chromium as a person would use it: expand an
 * operation, "Try it out", Execute, read the live response. It runs against the built service
 * (dist/main.js) with its real helmet Content-Security-Policy, so it also shows that the CSP
 * lets Swagger UI's scripts, styles and requests through.
 */

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = join(__dirname, '..', 'test-output');
const START_TIMEOUT_MS = 30_000;
/** Swagger UI renders client-side: how long to wait for any one thing to appear. */
const UI_TIMEOUT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

const hasChromium = existsSync(CHROMIUM);
const mustRun = process.env.CI === 'true';
if (!hasChromium && !mustRun) {
  process.stderr.write(`${CHROMIUM} is missing: skipping the Swagger UI browser tests (apt-get install chromium to run them)\n`);
}
// Under CI a missing Chromium is a failure (beforeAll throws), never a silent skip.
const describeWithChromium = hasChromium || mustRun ? describe : describe.skip;

/** What the page said that a person would see in the developer tools. */
interface BrowserProblems {
  consoleErrors: string[];
  pageErrors: string[];
  failedRequests: string[];
}

const CSP_MESSAGE = /content[- ]security[- ]policy|refused to (load|execute|apply|connect|evaluate)/i;

/** The operation block of `method path` in Swagger UI (e.g. POST /prediction). */
function operation(page: Page, method: string, path: string): Locator {
  return page
    .locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Expands an operation by clicking its summary and presses "Try it out". */
async function tryItOut(page: Page, method: string, path: string): Promise<Locator> {
  const block = operation(page, method, path);
  await block.locator('.opblock-summary').first().click();
  await block.locator('.opblock-body').waitFor();
  await block.getByRole('button', { name: 'Try it out' }).click();
  await block.locator('button.execute').waitFor();
  return block;
}

/** The example body Swagger UI put in the request body editor, parsed. */
async function bodyEditorJson(block: Locator): Promise<unknown> {
  const editor = block.locator('textarea.body-param__text');
  await editor.waitFor();
  return JSON.parse(await editor.inputValue());
}

/**
 * Presses Execute and waits until the rendered live response ("Server response") shows
 * `status` and a body containing `expected`; returns the rendered body text.
 */
async function execute(page: Page, block: Locator, requestPath: string, status: number, expected: string | RegExp): Promise<string> {
  const sent = page.waitForResponse(
    (response) => new URL(response.url()).pathname === requestPath && response.request().method() === 'POST',
  );
  await block.locator('button.execute').click();
  expect((await sent).status()).toBe(status);

  const live = block.locator('.live-responses-table tbody');
  await live
    .locator('.response-col_status', { hasText: new RegExp(`^\\s*${status}\\b`) })
    .first()
    .waitFor();
  const body = live.locator('xpath=.//h5[normalize-space()="Response body"]/following-sibling::*[1]').locator('pre').first();
  await body.filter({ hasText: expected }).waitFor();
  return (await body.innerText()).trim();
}

/**
 * A screenshot of the operation from its summary down to the live response (not the
 * documented responses below it, which are long and the same every time).
 */
async function screenshot(page: Page, block: Locator, name: string): Promise<void> {
  const live = block.locator('.live-responses-table');
  await live.scrollIntoViewIfNeeded();
  const top = await block.boundingBox();
  const bottom = await live.boundingBox();
  const scrollY = Number(await page.evaluate('window.scrollY'));
  if (!top || !bottom) throw new Error(`${name}: the operation or its live response is not visible`);
  await page.screenshot({
    path: join(OUTPUT_DIR, name),
    fullPage: true,
    clip: { x: top.x, y: top.y + scrollY, width: top.width, height: bottom.y + bottom.height - top.y + 16 },
  });
}

describeWithChromium('Swagger UI at /docs in headless Chromium (the built service, its real CSP)', () => {
  let service: ServiceProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  const problems: BrowserProblems = { consoleErrors: [], pageErrors: [], failedRequests: [] };

  beforeAll(
    async () => {
      if (!hasChromium) throw new Error(`${CHROMIUM} is missing, and CI must run the Swagger UI browser tests (apt-get install chromium)`);
      mkdirSync(OUTPUT_DIR, { recursive: true });

      service = await startService();
      await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        timeout: UI_TIMEOUT_MS,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
      context.setDefaultTimeout(UI_TIMEOUT_MS);
      page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') problems.consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => problems.pageErrors.push(String(error)));
      page.on('requestfailed', (request) =>
        problems.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
      );
      // Every CSP violation, as the document reports it (also the ones Chromium does not log).
      // (A string: this project compiles without the DOM library; the browser runs it, not Node.)
      await page.addInitScript(`
      document.addEventListener('securitypolicyviolation', (event) => {
        console.error('Content-Security-Policy violation: ' + event.effectiveDirective + ' blocked ' +
          (event.blockedURI || '(inline)') + ' in ' + event.sourceFile + ':' + event.lineNumber);
      });
    `);

      const answer = await page.goto(`${service.baseUrl}/docs`, { waitUntil: 'load' });
      expect(answer?.status()).toBe(200);
    },
    START_TIMEOUT_MS + 2 * UI_TIMEOUT_MS,
  );

  afterAll(async () => {
    await browser?.close();
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        service.exited,
        new Promise((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout'))),
      ]);
      clearTimeout(timer);
      if (stopped === 'timeout') service.child.kill('SIGKILL');
    }
  }, STOP_TIMEOUT_MS + 5_000);

  it(
    'renders the API: title, and the operations of the prediction and V2 routes',
    async () => {
      await page.locator('.swagger-ui .info .title').waitFor();
      expect(await page.locator('.swagger-ui .info .title').innerText()).toContain('ml-microservice');
      await operation(page, 'POST', '/prediction').waitFor();
      await operation(page, 'POST', '/v2/models/{name}/infer').waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'POST /prediction: Try it out with the example row, Execute, shows 200 and setosa',
    async () => {
      const block = await tryItOut(page, 'POST', '/prediction');
      // The first documented example is the one Swagger UI puts in the editor.
      expect(await bodyEditorJson(block)).toEqual({ features: [5.1, 3.5, 1.4, 0.2] });

      const body = await execute(page, block, '/prediction', 200, 'setosa');
      await screenshot(page, block, 'swagger-ui-post-prediction-200.png');

      expect(body).toContain('setosa');
      expect(JSON.parse(body)).toMatchObject({ prediction: 'setosa', model: { name: 'iris' } });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'POST /v2/models/{name}/infer: Try it out with name iris and the example body, Execute, shows 200 and model_name iris',
    async () => {
      const block = await tryItOut(page, 'POST', '/v2/models/{name}/infer');
      await block.locator('tr[data-param-name="name"] input').fill('iris');
      expect(await bodyEditorJson(block)).toMatchObject({ inputs: [{ name: 'standardize_input', shape: [2, 4], datatype: 'FP32' }] });

      const body = await execute(page, block, '/v2/models/iris/infer', 200, /"model_name":\s*"iris"/);
      await screenshot(page, block, 'swagger-ui-post-v2-infer-200.png');

      expect(body).toMatch(/"model_name":\s*"iris"/);
      const answer = JSON.parse(body) as { model_name: string; outputs: { shape: number[] }[] };
      expect(answer.model_name).toBe('iris');
      expect(answer.outputs[0].shape).toEqual([2, 3]);
    },
    TEST_TIMEOUT_MS,
  );

  it('logged no Content-Security-Policy violation, no page error and no failed request in the browser', () => {
    // A failure prints the messages themselves, as Chromium logged them.
    expect(problems.consoleErrors.filter((text) => CSP_MESSAGE.test(text))).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
    // Nothing the page asked for failed either (a resource the CSP blocks fails as "csp").
    expect(problems.failedRequests).toEqual([]);
  });
});

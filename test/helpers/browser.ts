// Opens an HTML file in Debian's headless chromium (driven by playwright-core, never a downloaded
// browser) with a fresh profile, and reports what a person would see: console errors, page errors,
// any request other than the file itself, and for every chart canvas what Chart.js drew.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export interface DrawnDataset {
  label: string;
  /** The values Chart.js holds for the dataset (y values, or {x, y} points). */
  data: unknown[];
  /** Elements (points or bars) Chart.js placed, and how many of them lie inside the chart area. */
  elements: number;
  elementsInArea: number;
}

export interface DrawnChart {
  id: string;
  type: string;
  datasets: DrawnDataset[];
  /** Canvas pixels that are not fully transparent. */
  paintedPixels: number;
  width: number;
  height: number;
}

export interface PageReport {
  consoleErrors: string[];
  pageErrors: string[];
  /** Requests for anything other than the opened file. */
  outsideRequests: string[];
  /** The value of body[data-charts-drawn] once the page is loaded (null when the script never got there). */
  chartsDrawn: string | null;
  charts: DrawnChart[];
  title: string;
  text: string;
}

// The few browser globals the page functions use (the tests compile without the DOM library, so that
// Node code can never lean on browser globals by accident).
interface CanvasLike {
  id: string;
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
interface ChartLike {
  config: { type: string };
  data: { datasets: Array<{ label?: string; data: unknown[] }> };
  chartArea: { left: number; right: number; top: number; bottom: number };
  getDatasetMeta(i: number): { data: Array<{ x: number; y: number }> };
}
interface PageGlobals {
  document: { body: { dataset: Record<string, string | undefined>; innerText: string }; querySelectorAll(selector: string): Iterable<CanvasLike> };
  Chart: { getChart(canvas: CanvasLike): ChartLike | undefined };
}

export async function openInChromium(htmlFile: string, screenshotFile: string): Promise<PageReport> {
  const profile = await mkdtemp(join(tmpdir(), "spogw-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1200, height: 900 } });
  const fileUrl = pathToFileURL(htmlFile).href;
  const report: PageReport = { consoleErrors: [], pageErrors: [], outsideRequests: [], chartsDrawn: null, charts: [], title: "", text: "" };
  try {
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url === fileUrl) return route.continue();
      report.outsideRequests.push(url);
      return route.abort();
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") report.consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => report.pageErrors.push(error.message));
    await page.goto(fileUrl, { waitUntil: "load" });
    report.title = await page.title();
    report.chartsDrawn = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.dataset.chartsDrawn ?? null);
    report.text = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.innerText);
    report.charts = await page.evaluate(() => {
      const { document, Chart } = globalThis as unknown as PageGlobals;
      return [...document.querySelectorAll("canvas[data-chart]")].map((canvas) => {
        const chart = Chart.getChart(canvas);
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
        const area = chart?.chartArea;
        return {
          id: canvas.id,
          type: chart?.config.type ?? "none",
          datasets: (chart?.data.datasets ?? []).map((d, i) => {
            const elements = chart!.getDatasetMeta(i).data;
            const inside = elements.filter((e) => Number.isFinite(e.x) && Number.isFinite(e.y) && e.x >= area!.left - 1 && e.x <= area!.right + 1 && e.y >= area!.top - 1 && e.y <= area!.bottom + 1);
            return { label: d.label ?? "", data: d.data, elements: elements.length, elementsInArea: inside.length };
          }),
          paintedPixels: painted,
          width: canvas.width,
          height: canvas.height,
        };
      });
    });
    await page.screenshot({ path: screenshotFile, fullPage: true });
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
  return report;
}

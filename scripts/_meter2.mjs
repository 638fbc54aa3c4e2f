const { XsRunner } = await import("/work/main/build/js/test/support/xs.js");
const r = await XsRunner.start();
const [mod, ...names] = process.argv.slice(2);
for (const name of names) { try { const c = await r.meter(mod, name, 1000); console.log(name, c/1000); } catch (e) { console.log(name, "ERROR", e.message); } }
await r.close();

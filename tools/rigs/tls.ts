/*
 * A throwaway PKI for TLS tests, made with openssl at test time: a CA, a
 * broker certificate for localhost and 127.0.0.1 (and any other names
 * asked for, such as broker.test) signed by it, and a second
 * CA that signed nothing (the "wrong CA").
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface TestPki {
	dir: string;
	caFile: string;
	ca: string;
	wrongCa: string;
	certFile: string;
	keyFile: string;
}

function openssl(dir: string, ...args: string[]): void {
	execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * `key`: the broker's key type. An RSA key lets the broker choose one of
 * Moddable's CBC suites (a MAC and padding per record); EC, GCM.
 */
export function makeTestPki(names: readonly string[] = [], key: "ec" | "rsa" = "ec"): TestPki {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "room1-pki-"));
	for (const name of ["ca", "wrong-ca"]) {
		openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
			"-subj", `/CN=room1 test ${name}`, "-keyout", `${name}.key`, "-out", `${name}.crt`);
	}
	const keyOptions = key === "rsa" ? ["rsa:2048"] : ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
	openssl(dir, "req", "-newkey", ...keyOptions, "-nodes", "-subj", "/CN=localhost", "-keyout", "broker.key", "-out", "broker.csr");
	fs.writeFileSync(path.join(dir, "broker.ext"), `subjectAltName=${["localhost", ...names].map((name) => `DNS:${name}`).join(",")},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
	openssl(dir, "x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "broker.ext", "-out", "broker.crt");
	// mosquitto started as root reads its files as the "mosquitto" user: these test keys may be world-readable.
	fs.chmodSync(dir, 0o755);
	for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644);
	const read = (file: string): string => fs.readFileSync(path.join(dir, file), "utf8");
	return {
		dir, caFile: path.join(dir, "ca.crt"), ca: read("ca.crt"), wrongCa: read("wrong-ca.crt"),
		certFile: path.join(dir, "broker.crt"), keyFile: path.join(dir, "broker.key"),
	};
}

/** A mosquitto password file with one user. */
export function passwordFile(dir: string, user: string, password: string): string {
	const file = path.join(dir, "passwords");
	execFileSync("mosquitto_passwd", ["-c", "-b", file, user, password], { stdio: ["ignore", "ignore", "pipe"] });
	fs.chmodSync(file, 0o644);
	return file;
}

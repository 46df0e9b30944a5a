"""`make emulate`: the release Lambda binary under the AWS Lambda Runtime Interface Emulator (the
emulator `sam local invoke` uses, without Docker), against the Zoom simulator and moto's S3 and
Secrets Manager. Invokes it twice with events/scheduled.json (time set to now) and shows the result.
"""
import glob, gzip, json, os, re, socket, subprocess, sys, time, urllib.request
from datetime import datetime, timezone

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pattern, stream):
    for line in stream:
        match = re.search(pattern, line)
        if match:
            return match
    sys.exit("a helper process did not start")


def main():
    processes = []
    try:
        sim = subprocess.Popen([os.path.join(ROOT, "target/release/zoom-sim"), "--activity-events", "400",
                                "--operation-events", "150", "--refresh-token-file", "out/emulate/refresh-token"],
                               stdout=subprocess.PIPE, text=True)
        processes.append(sim)
        sim_url = wait_for(r"listening on (\S+)", sim.stdout).group(1)
        moto_port = free_port()
        # moto through the project's launcher, which fixes moto 5.2's AWSCURRENT stage moves.
        moto = subprocess.Popen([os.path.join(VENV, "bin/python"), os.path.join(ROOT, "scripts/moto_server.py"),
                                 "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(moto)
        endpoint = f"http://127.0.0.1:{moto_port}"
        aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test")
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/")
                break
            except OSError:
                time.sleep(0.1)
        s3 = boto3.client("s3", **aws)
        s3.create_bucket(Bucket="zoom-logs")
        secrets = boto3.client("secretsmanager", **aws)
        refresh = open("out/emulate/refresh-token").read().strip()
        secrets.create_secret(Name="zoom-log-puller", SecretString=json.dumps(
            {"client_id": "sim-client-id", "client_secret": "sim-client-secret", "refresh_token": refresh}))

        rie = glob.glob(os.path.join(VENV, "lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))[0]
        port = free_port()
        env = dict(os.environ, ZOOM_SECRET_ID="zoom-log-puller", LOG_BUCKET="zoom-logs",
                   ZOOM_API_URL=sim_url + "/v2", ZOOM_OAUTH_URL=sim_url + "/oauth/token",
                   INITIAL_LOOKBACK_DAYS="1", S3_FORCE_PATH_STYLE="true", AWS_ENDPOINT_URL=endpoint,
                   AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_LAMBDA_FUNCTION_TIMEOUT="120", AWS_LAMBDA_LOG_FORMAT="JSON")
        emulator = subprocess.Popen([rie, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                                     "--runtime-api-address", f"127.0.0.1:{free_port()}",
                                     os.path.join(ROOT, "target/release/zoom-log-puller")],
                                    env=env, stdout=open("out/emulate/function.log", "w"), stderr=subprocess.STDOUT)
        processes.append(emulator)
        time.sleep(1)
        event = json.load(open(os.path.join(ROOT, "events/scheduled.json")))
        for attempt in (1, 2):
            event["time"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
                data=json.dumps(event).encode(), method="POST")
            result = json.load(urllib.request.urlopen(request, timeout=150))
            print(f"== invocation {attempt}:")
            if "errorType" in result:
                sys.exit(f"   failed: {result}")
            for s in result["log_types"]:
                print(f"   {s['log_type']}: {s['events_written']} events, {s['objects_written']} objects, "
                      f"{s['pages_fetched']} pages, cursor {s['cursor_before']} -> {s['cursor_after']}")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="zoom-logs").get("Contents", [])]
        print(f"== {len(keys)} objects in s3://zoom-logs, e.g. {keys[0]}")
        body = s3.get_object(Bucket="zoom-logs", Key=keys[0])["Body"].read()
        print("   first line:", gzip.decompress(body).decode().splitlines()[0])
        state = json.loads(secrets.get_secret_value(SecretId="zoom-log-puller")["SecretString"])
        print("== the secret now holds cursors", state["cursors"], "and a rotated refresh token:",
              state["refresh_token"] != refresh)
        print("== the function's log: out/emulate/function.log")
    finally:
        for process in reversed(processes):
            process.terminate()


if __name__ == "__main__":
    os.chdir(ROOT)
    os.makedirs("out/emulate", exist_ok=True)
    main()

// "View code": the playground's current request as Python (openai SDK), Node (openai SDK)
// and curl. The key is never written out: every snippet reads OPENAI_API_KEY.

function py(value: unknown, indent: number): string {
  const pad = "    ".repeat(indent + 1);
  const end = "    ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + py(v, indent + 1)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${py(v, indent + 1)}`).join(",\n")},\n${end}}`;
}

export function python(body: Record<string, unknown>, origin: string): string {
  const { stream, ...rest } = body;
  const args = Object.entries(rest)
    .map(([k, v]) => `    ${k}=${py(v, 1)},`)
    .join("\n");
  const head = `import os\n\nfrom openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1", api_key=os.environ["OPENAI_API_KEY"])\n`;
  if (stream)
    return `${head}stream = client.chat.completions.create(\n${args}\n    stream=True,\n)\nfor chunk in stream:\n    if chunk.choices and chunk.choices[0].delta.content:\n        print(chunk.choices[0].delta.content, end="", flush=True)\nprint()\n`;
  return `${head}completion = client.chat.completions.create(\n${args}\n)\nprint(completion.choices[0].message.content)\n`;
}

export function node(body: Record<string, unknown>, origin: string): string {
  const json = JSON.stringify(body, null, 2).replace(/\n/g, "\n");
  const head = `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${origin}/v1", apiKey: process.env.OPENAI_API_KEY });\n\n`;
  if (body.stream)
    return `${head}const stream = await client.chat.completions.create(${json});\nfor await (const chunk of stream) {\n  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");\n}\nprocess.stdout.write("\\n");\n`;
  return `${head}const completion = await client.chat.completions.create(${json});\nconsole.log(completion.choices[0].message.content);\n`;
}

export function curl(body: Record<string, unknown>, origin: string): string {
  const data = JSON.stringify(body, null, 2).replace(/'/g, "'\\''");
  return `curl ${origin}/v1/chat/completions${body.stream ? " -N" : ""} \\\n  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '${data}'\n`;
}

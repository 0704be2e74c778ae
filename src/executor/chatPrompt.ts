// Turns chat messages into the text a local GGUF model completes. Models whose chat template is
// ChatML (the tiny test models, Qwen) get ChatML; any other model gets a plain role-labelled
// transcript. (A full Jinja renderer is out of scope; the template in use is reported with the text.)
import type { ChatMessage } from "./types.js";

export type ChatFormat = "chatml" | "plain";

export function chatFormatFor(chatTemplate: string | undefined): ChatFormat {
  return chatTemplate?.includes("<|im_start|>") ? "chatml" : "plain";
}

export function renderChatPrompt(messages: readonly ChatMessage[], format: ChatFormat): string {
  if (format === "chatml") {
    return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
  }
  const label = { system: "System", user: "User", assistant: "Assistant" } as const;
  return messages.map((m) => `${label[m.role]}: ${m.content}\n\n`).join("") + "Assistant:";
}

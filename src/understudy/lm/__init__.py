"""Language-model distillation: a small causal LM that answers the business's prompts like the big one.

A path beside the classifier one: its own recipe (`task: text-generation`), teacher, student, losses,
training, evaluation and report, sharing the store, the error style and the report's look.
"""

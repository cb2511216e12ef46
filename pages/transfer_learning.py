import streamlit as st

st.title("Transfer learning")
st.info("Fine-tune an ImageNet-pretrained backbone (or one of your checkpoints) on a new dataset.\n\nCompare feature extraction, unfreezing the last blocks, full fine-tuning and two-stage training.\n\n*Coming soon.*")
